//! Code hosting and package registries: GitHub, GitLab, Atlassian, npm, PyPI, …

use super::{RuleDef, crc32_base62, rule};

/// The code-hosting and registry family.
pub const RULES: &[RuleDef] = &[
    // GitHub's 2021 formats: prefix, 30 random base62 characters and a 6-character CRC-32
    // checksum. A matching checksum is proof; a token without one (older fixtures) must
    // pass the entropy and placeholder tests instead.
    rule(
        "github-token",
        "GitHub token (personal, OAuth, app or refresh)",
        &["ghp_", "gho_", "ghu_", "ghs_", "ghr_"],
        r"\b(gh[pousr]_[A-Za-z0-9]{36})\b",
        3.0,
    )
    .check(crc32_base62)
    .pos(&[
        "GH_TOKEN=ghp_{gh}",
        "token = \"ghp_{a:36}\"",
        "  oauth: gho_{gh}",
        "user_token = 'ghu_{gh}'",
        "INSTALLATION_TOKEN=ghs_{a:36}",
        "refresh_token: ghr_{gh}",
    ])
    .neg(&[
        "GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "token: ghp_1234567890abcdefghijklmnopqrstuvwxyz",
        "token: ghp_...",
        "user_token = 'ghu_<token>'",
        "INSTALLATION_TOKEN=ghs_000000000000000000000000000000000000",
    ]),
    rule(
        "github-fine-grained-pat",
        "GitHub fine-grained personal access token",
        &["github_pat_"],
        r"\b(github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59})\b",
        3.0,
    )
    .pos(&["export GH_PAT=github_pat_{a:22}_{a:59}"])
    .neg(&["export GH_PAT=github_pat_XXXXXXXXXXXXXXXXXXXXXX_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"]),
    rule(
        "gitlab-token",
        "GitLab token (personal, runner or deploy)",
        &["glpat-", "glrt-", "gldt-"],
        r"\b((?:glpat|glrt|gldt)-[A-Za-z0-9_\-]{20,}(?:\.[0-9a-z]{2}\.[a-z0-9]{9})?)(?:[^A-Za-z0-9_\-.]|\.\s|\.$|$)",
        3.0,
    )
    .pos(&[
        "gitlab: glpat-{u:20}",
        "GITLAB_TOKEN=\"glpat-{u:27}.01.{l:9}\"",
        "token = \"glrt-{u:20}\"",
        "password: gldt-{u:20}",
    ])
    .neg(&[
        "gitlab: glpat-xxxxxxxxxxxxxxxxxxxx",
        "token: glpat-<your-token>",
        "token = \"glrt-REPLACE_WITH_TOKEN\"",
    ]),
    rule(
        "gitlab-runner-registration-token",
        "GitLab runner registration token",
        &["gr1348941"],
        r"\b(GR1348941[A-Za-z0-9_\-]{20})(?:[^A-Za-z0-9_\-]|$)",
        3.0,
    )
    .pos(&["--registration-token GR1348941{u:20}"])
    .neg(&["--registration-token GR1348941xxxxxxxxxxxxxxxxxxxx"]),
    rule(
        "gitlab-pipeline-trigger-token",
        "GitLab pipeline trigger token",
        &["glptt-"],
        r"\b(glptt-[0-9a-f]{40})\b",
        3.0,
    )
    .pos(&["-F token=glptt-{h:40}"])
    .neg(&["-F token=glptt-0000000000000000000000000000000000000000"]),
    rule(
        "gitlab-feed-token",
        "GitLab feed token",
        &["glft-"],
        r"\b(glft-[A-Za-z0-9_\-]{20,})(?:[^A-Za-z0-9_\-]|$)",
        3.0,
    )
    .pos(&["https://gitlab.example.com/dashboard/issues.atom?feed_token=glft-{u:20}"])
    .neg(&["feed_token=glft-xxxxxxxxxxxxxxxxxxxx"]),
    rule(
        "gitlab-oauth-app-secret",
        "GitLab OAuth application secret",
        &["gloas-"],
        r"\b(gloas-[0-9a-f]{64})\b",
        3.0,
    )
    .pos(&["OAUTH_SECRET=gloas-{h:64}"])
    .neg(&["OAUTH_SECRET=gloas-<secret>"]),
    rule(
        "gitlab-agent-token",
        "GitLab agent for Kubernetes token",
        &["glagent-"],
        r"\b(glagent-[A-Za-z0-9_\-]{50})(?:[^A-Za-z0-9_\-]|$)",
        3.0,
    )
    .pos(&["config.token: glagent-{u:50}"])
    .neg(&["config.token: glagent-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"]),
    rule(
        "gitlab-ci-job-token",
        "GitLab CI/CD job token",
        &["glcbt-"],
        r"\b(glcbt-[0-9a-z]{1,5}_[A-Za-z0-9_\-]{20})(?:[^A-Za-z0-9_\-]|$)",
        3.0,
    )
    .pos(&["JOB_TOKEN=glcbt-64_{u:20}"])
    .neg(&["JOB_TOKEN=glcbt-$CI_JOB_TOKEN"]),
    rule(
        "gitlab-scim-token",
        "GitLab SCIM token",
        &["glsoat-"],
        r"\b(glsoat-[A-Za-z0-9_\-]{20})(?:[^A-Za-z0-9_\-]|$)",
        3.0,
    )
    .pos(&["scim: glsoat-{u:20}"])
    .neg(&["scim: glsoat-xxxxxxxxxxxxxxxxxxxx"]),
    rule(
        "atlassian-api-token",
        "Atlassian API token",
        &["atatt3"],
        r"\b(ATATT3[A-Za-z0-9_\-=]{186})(?:[^A-Za-z0-9_\-=]|$)",
        3.5,
    )
    .pos(&["JIRA_API_TOKEN=ATATT3xFfGF0{u:180}"])
    .neg(&["JIRA_API_TOKEN=ATATT3xxxxxxxx"]),
    rule(
        "atlassian-legacy-api-token",
        "Atlassian (Jira/Confluence) API token",
        &["jira", "confluence", "atlassian"],
        r#"(?i)(?:jira|confluence|atlassian).{0,30}?(?:token|key|secret).{0,10}?['"\x60]?\s*(?:=|:|=>|,)\s*['"\x60]?([A-Za-z0-9]{24})\b"#,
        3.5,
    )
    .pos(&["JIRA_API_TOKEN={a:24}"])
    .neg(&["JIRA_API_TOKEN=your_jira_api_token_here"]),
    rule(
        "bitbucket-app-password",
        "Bitbucket app password",
        &["atbb"],
        r"\b(ATBB[A-Za-z0-9_=.\-]{32})(?:[^A-Za-z0-9_=.\-]|$)",
        3.5,
    )
    .pos(&["BITBUCKET_APP_PASSWORD=ATBB{a:32}"])
    .neg(&["BITBUCKET_APP_PASSWORD=ATBBxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"]),
    rule(
        "npm-token",
        "npm access token",
        &["npm_"],
        r"\b(npm_[A-Za-z0-9]{36})\b",
        3.0,
    )
    .check(crc32_base62)
    .pos(&["//registry.npmjs.org/:_authToken=npm_{gh}"])
    .neg(&["NPM_TOKEN=npm_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"]),
    rule(
        "npm-legacy-auth-token",
        "npm registry auth token (.npmrc)",
        &["_authtoken="],
        r"(?i):_authToken=([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b",
        3.0,
    )
    .pos(&["//registry.npmjs.org/:_authToken={uuid}"])
    .neg(&["//registry.npmjs.org/:_authToken=${NPM_TOKEN}"]),
    rule(
        "pypi-token",
        "PyPI upload token",
        &["pypi-ageichlwas5vcmc", "pypi-ageidgvzdc5wexbplm9yzw"],
        r"\b(pypi-AgE(?:IcHlwaS5vcmc|IdGVzdC5weXBpLm9yZw)[A-Za-z0-9_\-]{50,})",
        3.0,
    )
    .pos(&["  - pypi-AgEIcHlwaS5vcmc{u:70}"])
    .neg(&["password = pypi-AgEIcHlwaS5vcmc<token>"]),
    rule(
        "rubygems-api-key",
        "RubyGems API key",
        &["rubygems_"],
        r"\b(rubygems_[a-f0-9]{48})\b",
        3.0,
    )
    .pos(&["GEM_HOST_API_KEY=rubygems_{h:48}"])
    .neg(&["GEM_HOST_API_KEY=rubygems_<key>"]),
    rule(
        "nuget-api-key",
        "NuGet API key",
        &["oy2"],
        r"\b(oy2[a-z0-9]{43})\b",
        3.5,
    )
    .pos(&["dotnet nuget push pkg.nupkg --api-key oy2{l:43}"])
    .neg(&["--api-key oy2aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"]),
    rule(
        "crates-io-token",
        "crates.io API token",
        &["cio"],
        r"\b(cio[A-Za-z0-9]{32})\b",
        3.5,
    )
    .pos(&["CARGO_REGISTRY_TOKEN=cio{a:32}"])
    .neg(&["CARGO_REGISTRY_TOKEN=cioXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"]),
    rule(
        "jfrog-api-key",
        "JFrog Artifactory API key or identity token",
        &["akcp", "cmvmdgtu"],
        r"\b(AKCp[A-Za-z0-9]{69}|cmVmdGtu[A-Za-z0-9]{56,})\b",
        3.5,
    )
    .pos(&["ARTIFACTORY_API_KEY=AKCp{a:69}", "JFROG_TOKEN=cmVmdGtuOjAxOjE3{a:48}"])
    .neg(&["ARTIFACTORY_API_KEY=AKCp<key>"]),
    rule(
        "docker-hub-token",
        "Docker Hub access token",
        &["dckr_pat_", "dckr_oat_"],
        r"\b(dckr_(?:pat|oat)_[A-Za-z0-9_\-]{27,32})(?:[^A-Za-z0-9_\-]|$)",
        3.0,
    )
    .pos(&["echo dckr_pat_{u:27} | docker login -u me --password-stdin"])
    .neg(&["DOCKERHUB_TOKEN=dckr_pat_xxxxxxxxxxxxxxxxxxxxxxxxxxx"]),
    rule(
        "hugging-face-token",
        "Hugging Face access token",
        &["hf_", "api_org_"],
        r"\b((?:hf_|api_org_)[A-Za-z0-9]{34})\b",
        3.5,
    )
    .pos(&["HF_TOKEN=hf_{L:34}", "huggingface-cli login --token api_org_{L:34}"])
    .neg(&["HF_TOKEN=hf_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "model = hf_hub_download_config_helpers_x"]),
    rule(
        "clojars-token",
        "Clojars deploy token",
        &["clojars_"],
        r"(?i)\b(CLOJARS_[a-z0-9]{60})\b",
        3.5,
    )
    .pos(&["CLOJARS_PASSWORD=CLOJARS_{l:60}"])
    .neg(&["CLOJARS_PASSWORD=CLOJARS_TOKEN"]),
];
