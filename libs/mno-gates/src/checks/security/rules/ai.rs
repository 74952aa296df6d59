//! AI and machine-learning platforms: OpenAI, Anthropic, Groq, Replicate, …

use super::{RuleDef, rule};

/// The AI family.
pub const RULES: &[RuleDef] = &[
    // Project, service-account and admin keys carry their kind after `sk-`; legacy user
    // keys carry `T3BlbkFJ` (base64 of "OpenAI") in the middle.
    rule(
        "openai-api-key",
        "OpenAI API key",
        &["sk-proj-", "sk-svcacct-", "sk-admin-", "t3blbkfj"],
        r"\b(sk-(?:(?:proj|svcacct|admin)-[A-Za-z0-9_\-]{40,200}|[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}))(?:[^A-Za-z0-9_\-]|$)",
        3.5,
    )
    .pos(&[
        "OPENAI_API_KEY=sk-proj-{u:156}",
        "openai.api_key = \"sk-{a:20}T3BlbkFJ{a:20}\"",
    ])
    .neg(&[
        "OPENAI_API_KEY=sk-proj-...",
        "OPENAI_API_KEY=sk-proj-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "OPENAI_API_KEY=sk-...",
    ]),
    rule(
        "anthropic-api-key",
        "Anthropic API key",
        &["sk-ant-"],
        r"\b(sk-ant-[a-z]{3,8}\d{2}-[A-Za-z0-9_\-]{32,120})(?:[^A-Za-z0-9_\-]|$)",
        3.5,
    )
    .pos(&["ANTHROPIC_API_KEY=sk-ant-api03-{u:93}AA", "key: sk-ant-admin01-{u:93}AA"])
    .neg(&["ANTHROPIC_API_KEY=sk-ant-api03-...", "ANTHROPIC_API_KEY=sk-ant-xxxxxxxx"]),
    rule(
        "groq-api-key",
        "Groq API key",
        &["gsk_"],
        r"\b(gsk_[A-Za-z0-9]{52})\b",
        3.5,
    )
    .pos(&["GROQ_API_KEY=gsk_{a:52}"])
    .neg(&["GROQ_API_KEY=gsk_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"]),
    rule(
        "perplexity-api-key",
        "Perplexity API key",
        &["pplx-"],
        r"\b(pplx-[A-Za-z0-9]{48})\b",
        3.5,
    )
    .pos(&["PPLX_API_KEY=pplx-{a:48}"])
    .neg(&["PPLX_API_KEY=pplx-<key>"]),
    rule(
        "xai-api-key",
        "xAI API key",
        &["xai-"],
        r"\b(xai-[A-Za-z0-9]{80})\b",
        3.5,
    )
    .pos(&["XAI_API_KEY=xai-{a:80}"])
    .neg(&["XAI_API_KEY=xai-..."]),
    rule(
        "replicate-api-token",
        "Replicate API token",
        &["r8_"],
        r"\b(r8_[A-Za-z0-9]{37})\b",
        3.5,
    )
    .pos(&["REPLICATE_API_TOKEN=r8_{a:37}"])
    .neg(&["REPLICATE_API_TOKEN=r8_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"]),
    rule(
        "langsmith-api-key",
        "LangSmith API key",
        &["lsv2_"],
        r"\b(lsv2_(?:pt|sk)_[a-f0-9]{32}_[a-f0-9]{10})\b",
        3.0,
    )
    .pos(&["LANGSMITH_API_KEY=lsv2_pt_{h:32}_{h:10}"])
    .neg(&["LANGSMITH_API_KEY=lsv2_pt_<key>"]),
    rule(
        "pinecone-api-key",
        "Pinecone API key",
        &["pcsk_"],
        r"\b(pcsk_[A-Za-z0-9_]{60,})\b",
        3.5,
    )
    .pos(&["PINECONE_API_KEY=pcsk_{a:5}_{a:64}"])
    .neg(&["PINECONE_API_KEY=pcsk_..."]),
    rule(
        "cohere-api-key",
        "Cohere API key",
        &["cohere", "co_api_key"],
        r#"(?i)(?:cohere|co_api_key).{0,30}?['"\x60]?\s*(?:=|:|=>|,)\s*['"\x60]?([A-Za-z0-9]{40})\b"#,
        3.5,
    )
    .pos(&["COHERE_API_KEY={a:40}"])
    .neg(&["COHERE_API_KEY=your-cohere-api-key"]),
    rule(
        "mistral-api-key",
        "Mistral AI API key",
        &["mistral"],
        r#"(?i)mistral.{0,30}?['"\x60]?\s*(?:=|:|=>|,)\s*['"\x60]?([A-Za-z0-9]{32})\b"#,
        3.5,
    )
    .pos(&["MISTRAL_API_KEY={a:32}"])
    .neg(&["MISTRAL_API_KEY=${MISTRAL_API_KEY}"]),
    rule(
        "deepseek-api-key",
        "DeepSeek API key",
        &["deepseek"],
        r#"(?i)deepseek.{0,30}?['"\x60]?\s*(?:=|:|=>|,)\s*['"\x60]?(sk-[a-f0-9]{32})\b"#,
        3.0,
    )
    .pos(&["DEEPSEEK_API_KEY=sk-{h:32}"])
    .neg(&["DEEPSEEK_API_KEY=sk-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"]),
    rule(
        "wandb-api-key",
        "Weights & Biases API key",
        &["wandb"],
        r#"(?i)wandb.{0,30}?['"\x60]?\s*(?:=|:|=>|,)\s*['"\x60]?([a-f0-9]{40})\b"#,
        3.0,
    )
    .pos(&["WANDB_API_KEY={h:40}"])
    .neg(&["WANDB_API_KEY=<key>"]),
];
