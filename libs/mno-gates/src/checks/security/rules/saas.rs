//! SaaS: payments, e-mail, messaging, social, productivity.

use super::{RuleDef, rule};

/// The SaaS family.
pub const RULES: &[RuleDef] = &[
    rule(
        "stripe-key",
        "Stripe secret or restricted key",
        &["sk_live_", "sk_test_", "rk_live_", "rk_test_"],
        r"\b([sr]k_(?:live|test)_[0-9A-Za-z]{24,99})\b",
        3.0,
    )
    .pos(&[
        "stripe.api_key = 'sk_live_{a:24}'",
        "STRIPE_SECRET_KEY=sk_live_51{a:97}",
        "STRIPE_KEY=rk_live_{a:24}",
    ])
    .neg(&[
        "stripe_key = \"sk_test_4eC39HqLyjWDarjtT1zdp7dc\"",
        "STRIPE_SECRET_KEY=sk_live_xxxxxxxxxxxxxxxxxxxxxxxx",
        "STRIPE_KEY=rk_live_...",
    ]),
    rule(
        "stripe-webhook-secret",
        "Stripe webhook signing secret",
        &["whsec_"],
        r"\b(whsec_[A-Za-z0-9]{32,})\b",
        3.5,
    )
    .pos(&["STRIPE_WEBHOOK_SECRET=whsec_{a:32}"])
    .neg(&["STRIPE_WEBHOOK_SECRET=whsec_..."]),
    rule(
        "square-access-token",
        "Square access token",
        &["eaaa", "sq0atp-"],
        r"\b(EAAA[A-Za-z0-9_\-]{60}|sq0atp-[A-Za-z0-9_\-]{22})(?:[^A-Za-z0-9_\-]|$)",
        3.5,
    )
    .pos(&["SQUARE_ACCESS_TOKEN=EAAA{u:60}", "square_token: sq0atp-{u:22}"])
    .neg(&["SQUARE_ACCESS_TOKEN=EAAAxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"]),
    rule(
        "square-oauth-secret",
        "Square OAuth application secret",
        &["sq0csp-"],
        r"\b(sq0csp-[A-Za-z0-9_\-]{43})(?:[^A-Za-z0-9_\-]|$)",
        3.5,
    )
    .pos(&["SQUARE_APP_SECRET=sq0csp-{u:43}"])
    .neg(&["SQUARE_APP_SECRET=sq0csp-<secret>"]),
    rule(
        "braintree-access-token",
        "Braintree / PayPal access token",
        &["access_token$production$", "access_token$sandbox$"],
        r"\b(access_token\$(?:production|sandbox)\$[a-z0-9]{16}\$[a-f0-9]{32})\b",
        3.0,
    )
    .pos(&["BT_TOKEN=access_token$production${l:16}${h:32}"])
    .neg(&["BT_TOKEN=access_token$production$<merchant>$<token>"]),
    rule(
        "shopify-access-token",
        "Shopify access token",
        &["shpat_", "shpca_", "shppa_"],
        r"\b(shp(?:at|ca|pa)_[a-fA-F0-9]{32})\b",
        3.0,
    )
    .pos(&["SHOPIFY_ACCESS_TOKEN=shpat_{h:32}", "token: shpca_{h:32}"])
    .neg(&["SHOPIFY_ACCESS_TOKEN=shpat_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"]),
    rule(
        "shopify-shared-secret",
        "Shopify app shared secret",
        &["shpss_"],
        r"\b(shpss_[a-fA-F0-9]{32})\b",
        3.0,
    )
    .pos(&["SHOPIFY_API_SECRET=shpss_{h:32}"])
    .neg(&["SHOPIFY_API_SECRET=shpss_<secret>"]),
    rule(
        "plaid-access-token",
        "Plaid access token",
        &["access-production-", "access-development-", "access-sandbox-"],
        concat!(r"\b(access-(?:production|development|sandbox)-", "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", r")\b"),
        3.0,
    )
    .pos(&["PLAID_ACCESS_TOKEN=access-production-{uuid}"])
    .neg(&["PLAID_ACCESS_TOKEN=access-sandbox-<token>"]),
    rule(
        "razorpay-key",
        "Razorpay key id",
        &["rzp_live_"],
        r"\b(rzp_live_[A-Za-z0-9]{14})\b",
        3.0,
    )
    .pos(&["RAZORPAY_KEY=rzp_live_{a:14}"])
    .neg(&["RAZORPAY_KEY=rzp_live_XXXXXXXXXXXXXX"]),
    rule(
        "flutterwave-secret-key",
        "Flutterwave secret key",
        &["flwseck"],
        r"\b(FLWSECK(?:_TEST)?-[a-h0-9]{32}-X)\b",
        3.0,
    )
    .pos(&["FLW_SECRET_KEY=FLWSECK-{h:32}-X"])
    .neg(&["FLW_SECRET_KEY=FLWSECK-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx-X"]),
    rule(
        "sendgrid-api-key",
        "SendGrid API key",
        &["sg."],
        r"\b(SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43})(?:[^A-Za-z0-9_\-]|$)",
        3.5,
    )
    .pos(&["SENDGRID_API_KEY=SG.{u:22}.{u:43}", "sg.setApiKey('SG.{u:22}.{u:43}');"])
    .neg(&["SENDGRID_API_KEY=SG.xxxxxxxxxxxxxxxxxxxxxx.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "msg.send(to)"]),
    rule(
        "twilio-api-key",
        "Twilio API key SID",
        &["twilio"],
        r"(?i)twilio.{0,40}?\b(SK[0-9a-fA-F]{32})\b",
        3.0,
    )
    .pos(&["TWILIO_API_KEY=SK{h:32}"])
    .neg(&["TWILIO_API_KEY=SKxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"]),
    rule(
        "twilio-account-sid",
        "Twilio account SID",
        &["twilio"],
        r"(?i)twilio.{0,40}?\b(AC[0-9a-f]{32})\b",
        3.0,
    )
    .pos(&["TWILIO_ACCOUNT_SID=AC{h:32}"])
    .neg(&["TWILIO_ACCOUNT_SID=ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"]),
    rule(
        "twilio-auth-token",
        "Twilio auth token",
        &["twilio"],
        r#"(?i)twilio.{0,30}?(?:auth|token|secret).{0,20}?['"\x60]?\s*(?:=|:|=>|,)\s*['"\x60]?([0-9a-f]{32})\b"#,
        3.0,
    )
    .pos(&["TWILIO_AUTH_TOKEN={h:32}", "twilio_auth_token: \"{h:32}\""])
    .neg(&["TWILIO_AUTH_TOKEN=your_auth_token"]),
    rule(
        "mailgun-api-key",
        "Mailgun API key",
        &["key-", "mailgun"],
        r"\b(key-[0-9a-f]{32})\b|(?i:mailgun).{0,30}?\b([0-9a-f]{32}-[0-9a-f]{8}-[0-9a-f]{8})\b",
        3.0,
    )
    .pos(&["MAILGUN_API_KEY=key-{h:32}", "MAILGUN_API_KEY={h:32}-{h:8}-{h:8}"])
    .neg(&["MAILGUN_API_KEY=key-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "primary-key-value"]),
    rule(
        "mailgun-webhook-signing-key",
        "Mailgun webhook signing key",
        &["mailgun"],
        r#"(?i)mailgun.{0,30}?(?:signing|webhook).{0,20}?['"\x60]?\s*(?:=|:|=>|,)\s*['"\x60]?([0-9a-f]{32})\b"#,
        3.0,
    )
    .pos(&["MAILGUN_WEBHOOK_SIGNING_KEY={h:32}"])
    .neg(&["MAILGUN_WEBHOOK_SIGNING_KEY=<key>"]),
    rule(
        "mailchimp-api-key",
        "Mailchimp API key",
        &["-us"],
        r"\b([0-9a-f]{32}-us[0-9]{1,2})\b",
        3.0,
    )
    .pos(&["MAILCHIMP_API_KEY={h:32}-us21"])
    .neg(&["MAILCHIMP_API_KEY=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx-us21", "locale = en-us"]),
    rule(
        "mandrill-api-key",
        "Mandrill API key",
        &["mandrill"],
        r#"(?i)mandrill.{0,30}?['"\x60]?\s*(?:=|:|=>|,)\s*['"\x60]?([A-Za-z0-9_\-]{22})(?:[^A-Za-z0-9_\-]|$)"#,
        3.5,
    )
    .pos(&["MANDRILL_API_KEY={a:22}"])
    .neg(&["MANDRILL_API_KEY=<mandrill-key>"]),
    rule(
        "postmark-server-token",
        "Postmark server token",
        &["postmark"],
        concat!(r#"(?i)postmark.{0,30}?['"\x60]?\s*(?:=|:|=>|,)\s*['"\x60]?("#, "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", r")\b"),
        3.0,
    )
    .pos(&["POSTMARK_SERVER_TOKEN={uuid}"])
    .neg(&["POSTMARK_SERVER_TOKEN=POSTMARK_API_TEST"]),
    rule(
        "brevo-api-key",
        "Brevo (Sendinblue) API key",
        &["xkeysib-", "xsmtpsib-"],
        r"\b(x(?:keysib|smtpsib)-[a-f0-9]{64}-[A-Za-z0-9]{16})\b",
        3.0,
    )
    .pos(&["BREVO_API_KEY=xkeysib-{h:64}-{a:16}"])
    .neg(&["BREVO_API_KEY=xkeysib-<key>"]),
    rule(
        "mailjet-api-key",
        "Mailjet API key or secret",
        &["mailjet", "mj_apikey"],
        r#"(?i)(?:mailjet|mj_apikey).{0,30}?['"\x60]?\s*(?:=|:|=>|,)\s*['"\x60]?([a-f0-9]{32})\b"#,
        3.0,
    )
    .pos(&["MJ_APIKEY_PRIVATE={h:32}"])
    .neg(&["MJ_APIKEY_PRIVATE=${MJ_APIKEY_PRIVATE}"]),
    rule(
        "slack-token",
        "Slack bot, user or legacy token",
        &["xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-", "xoxo-"],
        r"\b(xox[bparos]-[0-9]{1,13}-[0-9A-Za-z\-]{10,160})",
        3.0,
    )
    .pos(&[
        "SLACK_BOT=xoxb-{d:11}-{d:12}-{a:24}",
        "SLACK_USER_TOKEN=xoxp-{d:11}-{d:11}-{d:13}-{h:32}",
        "SLACK_TOKEN=xoxs-{d:10}-{d:10}-{d:12}-{h:64}",
    ])
    .neg(&[
        "slack_token = \"xoxb-000000000000-000000000000-xxxxxxxxxxxxxxxxxxxxxxxx\"",
        "SLACK_BOT_TOKEN=xoxb-your-bot-token",
        "SLACK_USER_TOKEN=xoxp-xxxxxxxx",
    ]),
    rule(
        "slack-app-token",
        "Slack app-level token",
        &["xapp-"],
        r"(?i)\b(xapp-\d-[A-Z0-9]+-\d+-[a-z0-9]+)\b",
        3.0,
    )
    .pos(&["SLACK_APP_TOKEN=xapp-1-A{U:10}-{d:13}-{h:64}"])
    .neg(&["SLACK_APP_TOKEN=xapp-1-xxxx"]),
    rule(
        "slack-config-token",
        "Slack configuration token",
        &["xoxe.xox", "xoxe-"],
        r"\b(xoxe(?:\.xox[bp])?-\d-[A-Z0-9]{100,170})\b",
        3.5,
    )
    .pos(&["SLACK_CONFIG_TOKEN=xoxe.xoxp-1-{U:165}"])
    .neg(&["SLACK_CONFIG_TOKEN=xoxe.xoxp-1-XXXX"]),
    rule(
        "slack-webhook-url",
        "Slack incoming webhook URL",
        &["hooks.slack.com"],
        r"(https://hooks\.slack\.com/(?:services|workflows|triggers)/T[A-Z0-9]{6,12}/[A-Z0-9]{6,12}/[A-Za-z0-9]{20,64})",
        3.0,
    )
    .pos(&["url: https://hooks.slack.com/services/T{U:8}/B{U:10}/{a:24}"])
    .neg(&["url: https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"]),
    rule(
        "discord-bot-token",
        "Discord bot token",
        &["discord"],
        r"(?i:discord).{0,40}?\b([MNO][A-Za-z0-9_\-]{23,25}\.[A-Za-z0-9_\-]{6}\.[A-Za-z0-9_\-]{27,38})(?:[^A-Za-z0-9_\-]|$)",
        3.5,
    )
    .pos(&["DISCORD_BOT_TOKEN=MT{u:22}.{u:6}.{u:38}"])
    .neg(&["DISCORD_BOT_TOKEN=<bot-token>"]),
    rule(
        "discord-webhook-url",
        "Discord webhook URL",
        &["discord"],
        r"(https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/[0-9]{17,20}/[A-Za-z0-9_\-]{60,68})",
        3.5,
    )
    .pos(&["WEBHOOK=https://discord.com/api/webhooks/{d:19}/{u:68}"])
    .neg(&["WEBHOOK=https://discord.com/api/webhooks/<id>/<token>"]),
    rule(
        "telegram-bot-token",
        "Telegram bot token",
        &[":aa"],
        r"\b([0-9]{8,10}:AA[A-Za-z0-9_\-]{33})(?:[^A-Za-z0-9_\-]|$)",
        3.5,
    )
    .pos(&["TELEGRAM_BOT_TOKEN={d:10}:AA{u:33}"])
    .neg(&["TELEGRAM_BOT_TOKEN=123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"]),
    rule(
        "microsoft-teams-webhook",
        "Microsoft Teams incoming webhook URL",
        &["webhook.office.com"],
        r"(https://[a-z0-9\-]+\.webhook\.office\.com/webhookb2/[a-z0-9\-]+@[a-z0-9\-]+/IncomingWebhook/[a-z0-9]{32}/[a-z0-9\-]{36})",
        3.0,
    )
    .pos(&["TEAMS_WEBHOOK=https://contoso.webhook.office.com/webhookb2/{uuid}@{uuid}/IncomingWebhook/{h:32}/{uuid}"])
    .neg(&["TEAMS_WEBHOOK=https://contoso.webhook.office.com/webhookb2/<id>"]),
    rule(
        "dropbox-token",
        "Dropbox access token",
        &["sl.", "aaaaaaaaaa"],
        r"\b(sl\.[A-Za-z0-9_.\-]{130,}|[a-z0-9]{11}AAAAAAAAAA[A-Za-z0-9_=\-]{43})",
        3.5,
    )
    .pos(&["DROPBOX_TOKEN=sl.B{u:140}", "dropbox_token: {l:11}AAAAAAAAAA{u:43}"])
    .neg(&["DROPBOX_TOKEN=sl.xxxxxxxx", "import ssl.wrap_socket"]),
    rule(
        "twitter-bearer-token",
        "X (Twitter) bearer token",
        &["aaaaaaaaaaaaaaaaaaaaa"],
        r"\b(AAAAAAAAAAAAAAAAAAAAA[A-Za-z0-9%]{30,})",
        3.5,
    )
    .pos(&["TWITTER_BEARER_TOKEN=AAAAAAAAAAAAAAAAAAAAA{a:30}%3D{a:50}"])
    .neg(&["TWITTER_BEARER_TOKEN=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"]),
    rule(
        "facebook-access-token",
        "Facebook (Meta) access token",
        &["eaa"],
        r"\b(EAA[A-Za-z0-9]{90,})\b",
        3.5,
    )
    .pos(&["FB_ACCESS_TOKEN=EAAG{a:180}"])
    .neg(&["FB_ACCESS_TOKEN=EAAGxxxxxxxx"]),
    rule(
        "facebook-app-secret",
        "Facebook (Meta) app secret",
        &["facebook", "fb_app_secret", "fb_secret"],
        r#"(?i)(?:facebook|fb_(?:app_)?secret).{0,30}?['"\x60]?\s*(?:=|:|=>|,)\s*['"\x60]?([a-f0-9]{32})\b"#,
        3.0,
    )
    .pos(&["FACEBOOK_APP_SECRET={h:32}"])
    .neg(&["FACEBOOK_APP_SECRET=<app-secret>"]),
    rule(
        "mapbox-secret-token",
        "Mapbox secret access token",
        &["sk.eyj"],
        r"\b(sk\.eyJ[A-Za-z0-9_\-]{50,}\.[A-Za-z0-9_\-]{20,})",
        3.5,
    )
    .pos(&["MAPBOX_TOKEN=sk.eyJ1Ijoi{u:60}.{u:22}"])
    .neg(&["MAPBOX_TOKEN=sk.eyJ..."]),
    rule(
        "algolia-admin-key",
        "Algolia admin API key",
        &["algolia"],
        r#"(?i)algolia.{0,30}?(?:admin|key|secret).{0,10}?['"\x60]?\s*(?:=|:|=>|,)\s*['"\x60]?([a-f0-9]{32})\b"#,
        3.0,
    )
    .pos(&["ALGOLIA_ADMIN_KEY={h:32}"])
    .neg(&["ALGOLIA_ADMIN_KEY=<admin-key>"]),
    rule(
        "intercom-access-token",
        "Intercom access token",
        &["dg9roj"],
        r"\b(dG9rOj[A-Za-z0-9+/=_\-]{40,})",
        3.5,
    )
    .pos(&["INTERCOM_TOKEN=dG9rOj{b:54}="])
    .neg(&["INTERCOM_TOKEN=dG9rOj..."]),
    rule(
        "zendesk-api-token",
        "Zendesk API token",
        &["zendesk"],
        r#"(?i)zendesk.{0,30}?(?:token|key).{0,10}?['"\x60]?\s*(?:=|:|=>|,)\s*['"\x60]?([A-Za-z0-9]{40})\b"#,
        3.5,
    )
    .pos(&["ZENDESK_API_TOKEN={a:40}"])
    .neg(&["ZENDESK_API_TOKEN=<token>"]),
    rule(
        "hubspot-private-app-token",
        "HubSpot private app token",
        &["pat-na", "pat-eu"],
        concat!(r"\b(pat-(?:na|eu)\d-", "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", r")\b"),
        3.0,
    )
    .pos(&["HUBSPOT_TOKEN=pat-na1-{uuid}"])
    .neg(&["HUBSPOT_TOKEN=pat-na1-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"]),
    rule(
        "salesforce-access-token",
        "Salesforce access token",
        &["00d"],
        r"\b(00D[A-Za-z0-9]{12,15}![A-Za-z0-9._]{80,})",
        3.5,
    )
    .pos(&["SF_ACCESS_TOKEN=00D{a:15}!AQ{a:100}"])
    .neg(&["SF_ACCESS_TOKEN=00Dxxxxxxxxxxxxxxx!xxxxxxxx"]),
    rule(
        "typeform-token",
        "Typeform personal access token",
        &["tfp_"],
        r"\b(tfp_[A-Za-z0-9_=.\-]{59})(?:[^A-Za-z0-9_=.\-]|$)",
        3.5,
    )
    .pos(&["TYPEFORM_TOKEN=tfp_{a:59}"])
    .neg(&["TYPEFORM_TOKEN=tfp_<token>"]),
    rule(
        "easypost-api-key",
        "EasyPost API key",
        &["ezak", "eztk"],
        r"\b(EZ[AT]K[A-Za-z0-9]{54})\b",
        3.5,
    )
    .pos(&["EASYPOST_API_KEY=EZAK{a:54}"])
    .neg(&["EASYPOST_API_KEY=EZAKxxxxxxxx"]),
    rule(
        "shippo-api-token",
        "Shippo API token",
        &["shippo_"],
        r"\b(shippo_(?:live|test)_[a-f0-9]{40})\b",
        3.0,
    )
    .pos(&["SHIPPO_TOKEN=shippo_live_{h:40}"])
    .neg(&["SHIPPO_TOKEN=shippo_live_<token>"]),
    rule(
        "duffel-api-token",
        "Duffel API token",
        &["duffel_"],
        r"\b(duffel_(?:test|live)_[A-Za-z0-9_=\-]{43})(?:[^A-Za-z0-9_=\-]|$)",
        3.5,
    )
    .pos(&["DUFFEL_TOKEN=duffel_live_{u:43}"])
    .neg(&["DUFFEL_TOKEN=duffel_test_<token>"]),
    rule(
        "linear-api-key",
        "Linear API key",
        &["lin_api_", "lin_oauth_"],
        r"\b(lin_(?:api|oauth)_[A-Za-z0-9]{40})\b",
        3.5,
    )
    .pos(&["LINEAR_API_KEY=lin_api_{a:40}"])
    .neg(&["LINEAR_API_KEY=lin_api_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"]),
    rule(
        "notion-token",
        "Notion integration token",
        &["ntn_", "notion"],
        r"\b(ntn_[0-9]{11}[A-Za-z0-9]{35})\b|(?i:notion).{0,30}?\b(secret_[A-Za-z0-9]{43})\b",
        3.5,
    )
    .pos(&["NOTION_TOKEN=ntn_{d:11}{a:35}", "NOTION_API_KEY=secret_{a:43}"])
    .neg(&["NOTION_TOKEN=ntn_<token>"]),
    rule(
        "asana-pat",
        "Asana personal access token",
        &["asana"],
        r"(?i:asana).{0,40}?\b([0-9]/[0-9]{16}:[A-Za-z0-9]{32})\b",
        3.5,
    )
    .pos(&["ASANA_PAT=1/{d:16}:{a:32}"])
    .neg(&["ASANA_PAT=<pat>"]),
    rule(
        "airtable-pat",
        "Airtable personal access token",
        &["airtable"],
        r"(?i:airtable).{0,40}?\b(pat[A-Za-z0-9]{14}\.[a-f0-9]{64})\b",
        3.5,
    )
    .pos(&["AIRTABLE_TOKEN=pat{a:14}.{h:64}"])
    .neg(&["AIRTABLE_TOKEN=patXXXXXXXXXXXXXX.<secret>"]),
    rule(
        "figma-pat",
        "Figma personal access token",
        &["figd_"],
        r"\b(figd_[A-Za-z0-9_\-]{40})(?:[^A-Za-z0-9_\-]|$)",
        3.5,
    )
    .pos(&["FIGMA_TOKEN=figd_{u:40}"])
    .neg(&["FIGMA_TOKEN=figd_<token>"]),
    rule(
        "contentful-pat",
        "Contentful personal access token",
        &["cfpat-"],
        r"\b(CFPAT-[A-Za-z0-9_\-]{43})(?:[^A-Za-z0-9_\-]|$)",
        3.5,
    )
    .pos(&["CONTENTFUL_MANAGEMENT_TOKEN=CFPAT-{u:43}"])
    .neg(&["CONTENTFUL_MANAGEMENT_TOKEN=CFPAT-<token>"]),
    rule(
        "adobe-client-secret",
        "Adobe client secret",
        &["p8e-"],
        r"\b(p8e-[A-Za-z0-9]{32})\b",
        3.5,
    )
    .pos(&["ADOBE_CLIENT_SECRET=p8e-{a:32}"])
    .neg(&["ADOBE_CLIENT_SECRET=p8e-XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"]),
    rule(
        "readme-api-key",
        "ReadMe API key",
        &["rdme_"],
        r"\b(rdme_[a-z0-9]{70})\b",
        3.5,
    )
    .pos(&["README_API_KEY=rdme_{l:70}"])
    .neg(&["README_API_KEY=rdme_xxxxxxxx"]),
    rule(
        "frameio-api-token",
        "Frame.io API token",
        &["fio-u-"],
        r"\b(fio-u-[A-Za-z0-9_=\-]{64})(?:[^A-Za-z0-9_=\-]|$)",
        3.5,
    )
    .pos(&["FRAMEIO_TOKEN=fio-u-{u:64}"])
    .neg(&["FRAMEIO_TOKEN=fio-u-<token>"]),
];
