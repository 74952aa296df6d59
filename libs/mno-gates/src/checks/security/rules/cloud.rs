//! Cloud and hosting providers: AWS, Google Cloud, Azure, Alibaba, DigitalOcean, Heroku, …

use super::{RuleDef, rule};

/// The cloud family.
pub const RULES: &[RuleDef] = &[
    // Key ids are a fixed shape (4-letter type prefix + 16 base32 characters): some real
    // ids have low entropy, so the shape and the placeholder filter decide, not entropy.
    rule(
        "aws-access-key-id",
        "AWS access key ID",
        &["akia", "asia", "abia", "acca", "a3t"],
        r"\b((?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z2-7]{16})\b",
        0.0,
    )
    .pos(&["aws_access_key_id = AKIA{A:16}", "\"AccessKeyId\": \"ASIA{A:16}\","])
    .neg(&[
        "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
        "key = AKIAXXXXXXXXXXXXXXXX",
        "key = AKIAABCDEFGHIJKLMNOP",
        "region = asia-northeast1",
    ]),
    rule(
        "aws-secret-access-key",
        "AWS secret access key",
        &["aws", "secretaccesskey", "secret_access_key"],
        r#"(?i)(?:aws.{0,20}secret|secret_?access_?key).{0,20}?['"\x60]?\s*(?:=|:|=>|,)\s*['"\x60]?([A-Za-z0-9/+=]{40})(?:[^A-Za-z0-9/+=]|$)"#,
        3.5,
    )
    .pos(&[
        "aws_secret_access_key = {b:40}",
        "  secretAccessKey: '{b:40}',",
    ])
    .neg(&[
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "aws_secret_access_key = ${AWS_SECRET_ACCESS_KEY}",
    ]),
    rule(
        "aws-session-token",
        "AWS session token",
        &["session_token", "sessiontoken"],
        r#"(?i)session_?token['"\x60]?\s*(?:=|:)\s*['"\x60]?([A-Za-z0-9/+=]{100,})"#,
        4.0,
    )
    .pos(&["aws_session_token = IQoJb3JpZ2luX2Vj{b:180}"])
    .neg(&["aws_session_token = ${AWS_SESSION_TOKEN}"]),
    rule(
        "aws-mws-key",
        "Amazon MWS auth token",
        &["amzn.mws."],
        r"(amzn\.mws\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})",
        3.0,
    )
    .pos(&["mws_token = amzn.mws.{uuid}"])
    .neg(&["mws_token = amzn.mws.xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"]),
    rule(
        "gcp-api-key",
        "Google API key",
        &["aiza"],
        r"\b(AIza[0-9A-Za-z_\-]{35})(?:[^0-9A-Za-z_\-]|$)",
        3.0,
    )
    .pos(&["const key = \"AIza{u:35}\";"])
    .neg(&[
        "key=AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe",
        "key: AIzaXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
    ]),
    rule(
        "gcp-service-account-key",
        "Google Cloud service account private key ID",
        &["private_key_id"],
        r#"\\?"private_key_id\\?"\s*:\s*\\?"([a-f0-9]{40})\\?""#,
        3.0,
    )
    .pos(&["  \"private_key_id\": \"{h:40}\","])
    .neg(&["  \"private_key_id\": \"<key-id>\","]),
    rule(
        "gcp-oauth-client-secret",
        "Google OAuth client secret",
        &["gocspx-"],
        r"\b(GOCSPX-[A-Za-z0-9_\-]{28})(?:[^A-Za-z0-9_\-]|$)",
        3.0,
    )
    .pos(&["\"client_secret\": \"GOCSPX-{u:28}\""])
    .neg(&["client_secret: GOCSPX-xxxxxxxxxxxxxxxxxxxxxxxxxxxx"]),
    rule(
        "google-oauth-access-token",
        "Google OAuth access token",
        &["ya29."],
        r"\b(ya29\.[0-9A-Za-z_\-]{30,})",
        3.5,
    )
    .pos(&["Authorization: Bearer ya29.a0{u:120}"])
    .neg(&["token = \"ya29.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\""]),
    rule(
        "google-oauth-refresh-token",
        "Google OAuth refresh token",
        &["1//0"],
        r"(?:^|[^0-9A-Za-z_/])(1//0[0-9A-Za-z_\-]{40,})",
        3.5,
    )
    .pos(&["refresh_token: 1//0g{u:90}"])
    .neg(&["refresh_token: 1//0xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"]),
    rule(
        "firebase-cloud-messaging-key",
        "Firebase Cloud Messaging server key",
        &["apa91b"],
        r"\b(AAAA[A-Za-z0-9_\-]{7}:APA91b[A-Za-z0-9_\-]{120,160})",
        3.5,
    )
    .pos(&["FCM_SERVER_KEY=AAAA{u:7}:APA91b{u:134}"])
    .neg(&["FCM_SERVER_KEY=AAAAxxxxxxx:APA91bxxxxxxxx"]),
    rule(
        "azure-storage-account-key",
        "Azure storage account key",
        &["accountkey="],
        r"(?i)AccountKey=([A-Za-z0-9+/]{86}==)",
        3.5,
    )
    .pos(&["conn=DefaultEndpointsProtocol=https;AccountName=st;AccountKey={b:86}==;EndpointSuffix=core.windows.net"])
    .neg(&["AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="]),
    rule(
        "azure-client-secret",
        "Microsoft Entra ID client secret",
        &["q~"],
        r"(?:^|[^A-Za-z0-9_~.\-])([A-Za-z0-9_~.\-]{3}[0-9]Q~[A-Za-z0-9_~.\-]{31,34})(?:[^A-Za-z0-9_~.\-]|$)",
        3.0,
    )
    .pos(&["AZURE_CLIENT_SECRET={a:3}{d:1}Q~{a:34}"])
    .neg(&["AZURE_CLIENT_SECRET=abc8Q~xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"]),
    rule(
        "azure-sas-token",
        "Azure shared access signature",
        &["sig="],
        r"[?&]s[vpr]=[^\s'&]{1,40}&[^\s'<>]{0,300}?\bsig=([A-Za-z0-9%+/]{40,}(?:%3D|=)?)",
        3.5,
    )
    .pos(&["url = \"https://acct.blob.core.windows.net/c/f?sv=2022-11-02&ss=b&srt=sco&sp=rl&se=2030-01-01T00:00:00Z&sig={a:40}%3D\""])
    .neg(&["url = \"https://acct.blob.core.windows.net/c/f?sv=2022-11-02&sig=<signature>\""]),
    rule(
        "azure-devops-pat",
        "Azure DevOps personal access token",
        &["azdo"],
        r"\b([A-Za-z0-9]{76}AZDO[A-Za-z0-9]{4})\b",
        3.5,
    )
    .pos(&["ADO_PAT={a:76}AZDO{a:4}"])
    .neg(&["ADO_PAT=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxAZDOxxxx"]),
    rule(
        "azure-shared-access-key",
        "Azure Service Bus / Event Hubs shared access key",
        &["sharedaccesskey="],
        r"(?i)SharedAccessKey=([A-Za-z0-9+/]{43}=)",
        3.5,
    )
    .pos(&["Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey={b:43}="])
    .neg(&["Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey=<key>"]),
    rule(
        "azure-app-configuration-secret",
        "Azure App Configuration connection secret",
        &["azconfig.io"],
        r"(?i)azconfig\.io;Id=[^;\s]+;Secret=([A-Za-z0-9+/=]{40,})",
        3.5,
    )
    .pos(&["AZ_APPCONFIG=Endpoint=https://cfg.azconfig.io;Id=ab12-l0-s0:Xy;Secret={b:44}"])
    .neg(&["AZ_APPCONFIG=Endpoint=https://cfg.azconfig.io;Id=id;Secret=${APP_CONFIG_SECRET}"]),
    rule(
        "alibaba-access-key-id",
        "Alibaba Cloud AccessKey ID",
        &["ltai"],
        r"\b(LTAI[A-Za-z0-9]{12,20})\b",
        3.0,
    )
    .pos(&["ALIBABA_CLOUD_ACCESS_KEY_ID=LTAI{a:20}"])
    .neg(&["access_key_id: LTAIxxxxxxxxxxxxxxxxxxxx"]),
    rule(
        "alibaba-secret-key",
        "Alibaba Cloud AccessKey secret",
        &["alibaba", "aliyun"],
        r#"(?i)(?:alibaba|aliyun).{0,30}?secret.{0,20}?['"\x60]?\s*(?:=|:)\s*['"\x60]?([A-Za-z0-9]{30})\b"#,
        3.5,
    )
    .pos(&["ALIBABA_CLOUD_ACCESS_KEY_SECRET={a:30}"])
    .neg(&["ALIBABA_CLOUD_ACCESS_KEY_SECRET=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"]),
    rule(
        "tencent-secret-id",
        "Tencent Cloud SecretId",
        &["akid"],
        r"\b(AKID[A-Za-z0-9]{32})\b",
        3.5,
    )
    .pos(&["TENCENTCLOUD_SECRET_ID=AKID{a:32}"])
    .neg(&["TENCENTCLOUD_SECRET_ID=AKIDxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"]),
    rule(
        "digitalocean-pat",
        "DigitalOcean personal access token",
        &["dop_v1_"],
        r"\b(dop_v1_[a-f0-9]{64})\b",
        3.0,
    )
    .pos(&["DIGITALOCEAN_TOKEN=dop_v1_{h:64}"])
    .neg(&["DIGITALOCEAN_TOKEN=dop_v1_<token>"]),
    rule(
        "digitalocean-oauth-token",
        "DigitalOcean OAuth token",
        &["doo_v1_"],
        r"\b(doo_v1_[a-f0-9]{64})\b",
        3.0,
    )
    .pos(&["token: doo_v1_{h:64}"])
    .neg(&["token: doo_v1_0000000000000000000000000000000000000000000000000000000000000000"]),
    rule(
        "digitalocean-refresh-token",
        "DigitalOcean OAuth refresh token",
        &["dor_v1_"],
        r"\b(dor_v1_[a-f0-9]{64})\b",
        3.0,
    )
    .pos(&["refresh: dor_v1_{h:64}"])
    .neg(&["refresh: dor_v1_..."]),
    rule(
        "heroku-api-key",
        "Heroku API key",
        &["heroku"],
        r#"(?i)heroku.{0,30}?['"\x60]?\s*(?:=|:|=>|,)\s*['"\x60]?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b"#,
        3.0,
    )
    .pos(&["HEROKU_API_KEY={uuid}", "heroku_api_key = \"{uuid}\""])
    .neg(&["HEROKU_API_KEY=00000000-0000-0000-0000-000000000000"]),
    rule(
        "heroku-api-key-v2",
        "Heroku API key (HRKU format)",
        &["hrku-"],
        r"\b(HRKU-[A-Za-z0-9_\-]{58,64})(?:[^A-Za-z0-9_\-]|$)",
        3.0,
    )
    .pos(&["HEROKU_API_KEY=HRKU-AA{u:58}"])
    .neg(&["HEROKU_API_KEY=HRKU-xxxxxxxx"]),
    rule(
        "cloudflare-api-token",
        "Cloudflare API token",
        &["cloudflare", "cf_api", "cf-api"],
        r#"(?i)(?:cloudflare|cf[_\-]api).{0,30}?['"\x60]?\s*(?:=|:|=>|,)\s*['"\x60]?([A-Za-z0-9_\-]{40})(?:[^A-Za-z0-9_\-]|$)"#,
        3.5,
    )
    .pos(&["CLOUDFLARE_API_TOKEN={u:40}"])
    .neg(&["CLOUDFLARE_API_TOKEN=your-cloudflare-api-token-goes-here-xxxx"]),
    rule(
        "cloudflare-global-api-key",
        "Cloudflare global API key",
        &["cloudflare", "cf_api", "cf-api"],
        r#"(?i)(?:cloudflare|cf[_\-]api).{0,30}?['"\x60]?\s*(?:=|:|=>|,)\s*['"\x60]?([a-f0-9]{37})\b"#,
        3.0,
    )
    .pos(&["cloudflare_api_key: {h:37}"])
    .neg(&["cloudflare_api_key: 0000000000000000000000000000000000000"]),
    rule(
        "cloudflare-origin-ca-key",
        "Cloudflare Origin CA key",
        &["v1.0-"],
        r"\b(v1\.0-[a-f0-9]{24}-[a-f0-9]{146})\b",
        3.0,
    )
    .pos(&["CF_ORIGIN_CA_KEY=v1.0-{h:24}-{h:146}"])
    .neg(&["version = v1.0-beta"]),
    rule(
        "fastly-api-token",
        "Fastly API token",
        &["fastly"],
        r#"(?i)fastly.{0,30}?['"\x60]?\s*(?:=|:|=>|,)\s*['"\x60]?([A-Za-z0-9_\-]{32})(?:[^A-Za-z0-9_\-]|$)"#,
        3.5,
    )
    .pos(&["FASTLY_API_TOKEN={u:32}"])
    .neg(&["FASTLY_API_TOKEN=${FASTLY_API_TOKEN}"]),
    rule(
        "ibm-cloud-api-key",
        "IBM Cloud API key",
        &["ibm"],
        r#"(?i)ibm.{0,30}?(?:key|token).{0,10}?['"\x60]?\s*(?:=|:|=>|,)\s*['"\x60]?([A-Za-z0-9_\-]{44})(?:[^A-Za-z0-9_\-]|$)"#,
        3.5,
    )
    .pos(&["IBMCLOUD_API_KEY={u:44}"])
    .neg(&["IBMCLOUD_API_KEY=<ibm-cloud-api-key>"]),
    rule(
        "linode-token",
        "Linode (Akamai) API token",
        &["linode"],
        r#"(?i)linode.{0,30}?['"\x60]?\s*(?:=|:|=>|,)\s*['"\x60]?([a-f0-9]{64})\b"#,
        3.0,
    )
    .pos(&["LINODE_TOKEN={h:64}"])
    .neg(&["LINODE_TOKEN=changeme"]),
    rule(
        "scaleway-secret-key",
        "Scaleway secret key",
        &["scw_secret", "scaleway"],
        r#"(?i)(?:scw_secret|scaleway).{0,30}?['"\x60]?\s*(?:=|:|=>|,)\s*['"\x60]?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b"#,
        3.0,
    )
    .pos(&["SCW_SECRET_KEY={uuid}"])
    .neg(&["SCW_SECRET_KEY=11111111-1111-1111-1111-111111111111"]),
    rule(
        "vultr-api-key",
        "Vultr API key",
        &["vultr"],
        r#"(?i)vultr.{0,30}?['"\x60]?\s*(?:=|:|=>|,)\s*['"\x60]?([A-Z0-9]{36})\b"#,
        3.5,
    )
    .pos(&["VULTR_API_KEY={U:36}"])
    .neg(&["VULTR_API_KEY=XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"]),
    rule(
        "yandex-api-key",
        "Yandex Cloud API key",
        &["aqvn"],
        r"\b(AQVN[A-Za-z0-9_\-]{35,38})(?:[^A-Za-z0-9_\-]|$)",
        3.5,
    )
    .pos(&["YC_API_KEY=AQVN{u:36}"])
    .neg(&["YC_API_KEY=AQVNxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"]),
    rule(
        "netlify-token",
        "Netlify personal access token",
        &["nfp_"],
        r"\b(nfp_[A-Za-z0-9]{36,40})\b",
        3.0,
    )
    .pos(&["NETLIFY_AUTH_TOKEN=nfp_{a:36}"])
    .neg(&["NETLIFY_AUTH_TOKEN=nfp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"]),
    rule(
        "vercel-token",
        "Vercel access token",
        &["vercel"],
        r#"(?i)vercel.{0,30}?(?:token|key).{0,10}?['"\x60]?\s*(?:=|:|=>|,)\s*['"\x60]?([A-Za-z0-9]{24})\b"#,
        3.5,
    )
    .pos(&["VERCEL_TOKEN={a:24}"])
    .neg(&["VERCEL_TOKEN=${{ secrets.VERCEL_TOKEN }}"]),
    rule(
        "flyio-token",
        "Fly.io access token",
        &["fo1_", "fm1r_", "fm1a_", "fm2_"],
        r"\b((?:fo1_[A-Za-z0-9_\-]{43}|fm[12][ar]?_[A-Za-z0-9+/=,_\-]{100,}))",
        3.5,
    )
    .pos(&["FLY_API_TOKEN=\"FlyV1 fm2_{b:180}\"", "FLY_TOKEN=fo1_{u:43}"])
    .neg(&["FLY_API_TOKEN=fo1_..."]),
    rule(
        "supabase-token",
        "Supabase access token or secret key",
        &["sbp_", "sb_secret_"],
        r"\b(sbp_[a-f0-9]{40}|sb_secret_[A-Za-z0-9_\-]{31,})\b",
        3.0,
    )
    .pos(&["SUPABASE_ACCESS_TOKEN=sbp_{h:40}", "key: sb_secret_{u:32}"])
    .neg(&["SUPABASE_ACCESS_TOKEN=sbp_<token>"]),
    rule(
        "planetscale-token",
        "PlanetScale token or password",
        &["pscale_"],
        r"\b(pscale_(?:tkn|pw|oauth)_[A-Za-z0-9_=.\-]{32,64})\b",
        3.0,
    )
    .pos(&["DATABASE_PASSWORD=pscale_pw_{u:43}", "token: pscale_tkn_{u:43}"])
    .neg(&["DATABASE_PASSWORD=pscale_pw_xxxxxxxx"]),
    rule(
        "render-api-key",
        "Render API key",
        &["rnd_"],
        r"\b(rnd_[A-Za-z0-9]{32})\b",
        3.0,
    )
    .pos(&["RENDER_API_KEY=rnd_{a:32}"])
    .neg(&["RENDER_API_KEY=rnd_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"]),
];
