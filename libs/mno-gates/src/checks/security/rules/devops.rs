//! Infrastructure, CI/CD and observability: Vault, Terraform Cloud, Datadog, Grafana, …

use super::{RuleDef, rule};

/// The DevOps family.
pub const RULES: &[RuleDef] = &[
    rule(
        "vault-token",
        "HashiCorp Vault token",
        &["hvs.", "hvb.", "hvr."],
        r"\b(hv[sbr]\.[A-Za-z0-9_\-]{24,})",
        3.5,
    )
    .pos(&["VAULT_TOKEN=hvs.{u:24}", "export VAULT_TOKEN=\"hvb.{u:130}\""])
    .neg(&["VAULT_TOKEN=hvs.xxxxxxxxxxxxxxxxxxxxxxxx", "VAULT_TOKEN=hvs.<token>"]),
    rule(
        "vault-legacy-token",
        "HashiCorp Vault token (legacy s. format)",
        &["vault"],
        r#"(?i)vault.{0,30}?token.{0,10}?['"\x60]?\s*(?:=|:|=>|,)\s*['"\x60]?(s\.[A-Za-z0-9]{24})\b"#,
        3.5,
    )
    .pos(&["VAULT_TOKEN=s.{a:24}"])
    .neg(&["VAULT_TOKEN=s.xxxxxxxxxxxxxxxxxxxxxxxx"]),
    rule(
        "terraform-cloud-token",
        "Terraform Cloud / HCP Terraform API token",
        &[".atlasv1."],
        r"\b([A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_=\-]{60,70})",
        3.5,
    )
    .pos(&["  token = \"{a:14}.atlasv1.{u:67}\""])
    .neg(&["  token = \"xxxxxxxxxxxxxx.atlasv1.xxxxxxxx\""]),
    rule(
        "pulumi-access-token",
        "Pulumi access token",
        &["pul-"],
        r"\b(pul-[a-f0-9]{40})\b",
        3.0,
    )
    .pos(&["PULUMI_ACCESS_TOKEN=pul-{h:40}"])
    .neg(&["PULUMI_ACCESS_TOKEN=pul-<token>"]),
    rule(
        "doppler-token",
        "Doppler token",
        &["dp.pt.", "dp.st.", "dp.sa.", "dp.ct.", "dp.scim.", "dp.audit."],
        r"\b(dp\.(?:pt|st|sa|ct|scim|audit)\.(?:[a-z0-9_\-]{1,30}\.)?[A-Za-z0-9]{40,44})\b",
        3.5,
    )
    .pos(&["DOPPLER_TOKEN=dp.pt.{a:43}", "DOPPLER_TOKEN='dp.st.prd.{a:40}'"])
    .neg(&["DOPPLER_TOKEN=dp.pt.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"]),
    rule(
        "age-secret-key",
        "age secret key",
        &["age-secret-key-1"],
        r"\b(AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58})\b",
        3.0,
    )
    .pos(&["AGE-SECRET-KEY-1{B:58}"])
    .neg(&["# AGE-SECRET-KEY-1..."]),
    rule(
        "confluent-api-key",
        "Confluent Cloud API key",
        &["confluent"],
        r#"(?i)confluent.{0,30}?(?:key|id).{0,10}?['"\x60]?\s*(?:=|:|=>|,)\s*['"\x60]?([A-Z0-9]{16})\b"#,
        3.0,
    )
    .pos(&["CONFLUENT_CLOUD_API_KEY={U:16}"])
    .neg(&["CONFLUENT_CLOUD_API_KEY=XXXXXXXXXXXXXXXX"]),
    rule(
        "confluent-api-secret",
        "Confluent Cloud API secret",
        &["confluent"],
        r#"(?i)confluent.{0,30}?secret.{0,10}?['"\x60]?\s*(?:=|:|=>|,)\s*['"\x60]?([A-Za-z0-9+/]{64})(?:[^A-Za-z0-9+/]|$)"#,
        3.5,
    )
    .pos(&["CONFLUENT_CLOUD_API_SECRET={b:64}"])
    .neg(&["CONFLUENT_CLOUD_API_SECRET=<secret>"]),
    rule(
        "databricks-token",
        "Databricks personal access token",
        &["dapi"],
        r"\b(dapi[a-f0-9]{32}(?:-\d)?)\b",
        3.0,
    )
    .pos(&["DATABRICKS_TOKEN=dapi{h:32}", "token = \"dapi{h:32}-2\""])
    .neg(&["DATABRICKS_TOKEN=dapixxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"]),
    rule(
        "grafana-cloud-token",
        "Grafana Cloud access policy token",
        &["glc_"],
        r"\b(glc_[A-Za-z0-9+/]{32,400}={0,2})",
        3.5,
    )
    .pos(&["GRAFANA_CLOUD_TOKEN=glc_{b:120}"])
    .neg(&["GRAFANA_CLOUD_TOKEN=glc_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"]),
    rule(
        "grafana-service-account-token",
        "Grafana service account token",
        &["glsa_"],
        r"\b(glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8})\b",
        3.0,
    )
    .pos(&["GRAFANA_TOKEN=glsa_{a:32}_{h:8}"])
    .neg(&["GRAFANA_TOKEN=glsa_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx_xxxxxxxx"]),
    rule(
        "grafana-api-key",
        "Grafana API key (legacy)",
        &["eyjrijoi"],
        r"\b(eyJrIjoi[A-Za-z0-9]{70,400}={0,2})",
        3.5,
    )
    .pos(&["GF_API_KEY=eyJrIjoi{a:80}"])
    .neg(&["GF_API_KEY=eyJrIjoi..."]),
    rule(
        "new-relic-user-api-key",
        "New Relic user API key",
        &["nrak-"],
        r"\b(NRAK-[A-Z0-9]{27})\b",
        3.0,
    )
    .pos(&["NEW_RELIC_API_KEY=NRAK-{U:27}"])
    .neg(&["NEW_RELIC_API_KEY=NRAK-XXXXXXXXXXXXXXXXXXXXXXXXXXX"]),
    rule(
        "new-relic-insert-key",
        "New Relic insert key",
        &["nrii-"],
        r"\b(NRII-[A-Za-z0-9_\-]{32})(?:[^A-Za-z0-9_\-]|$)",
        3.0,
    )
    .pos(&["insert_key: NRII-{u:32}"])
    .neg(&["insert_key: NRII-<key>"]),
    rule(
        "new-relic-browser-key",
        "New Relic browser API key",
        &["nrjs-"],
        r"\b(NRJS-[a-f0-9]{19})\b",
        3.0,
    )
    .pos(&["browserKey: 'NRJS-{h:19}'"])
    .neg(&["browserKey: 'NRJS-xxxxxxxxxxxxxxxxxxx'"]),
    rule(
        "new-relic-license-key",
        "New Relic license (ingest) key",
        &["nral"],
        r"\b([a-f0-9]{36}NRAL)\b",
        3.0,
    )
    .pos(&["NEW_RELIC_LICENSE_KEY={h:36}NRAL"])
    .neg(&["NEW_RELIC_LICENSE_KEY=000000000000000000000000000000000000NRAL"]),
    rule(
        "sentry-token",
        "Sentry organization or user auth token",
        &["sntrys_", "sntryu_"],
        r"\b(sntrys_eyJ[A-Za-z0-9+/=_\-]{60,}|sntryu_[a-f0-9]{64})",
        3.5,
    )
    .pos(&["SENTRY_AUTH_TOKEN=sntrys_eyJpYXQiOjE3{b:120}", "SENTRY_AUTH_TOKEN=sntryu_{h:64}"])
    .neg(&["SENTRY_AUTH_TOKEN=sntrys_<token>"]),
    rule(
        "datadog-api-key",
        "Datadog API key",
        &["datadog", "dd_api_key", "dd-api-key", "ddapikey", "dd.api.key"],
        r#"(?i)(?:datadog|dd[_\-.]?api[_\-.]?key).{0,30}?['"\x60]?\s*(?:=|:|=>|,)\s*['"\x60]?([a-f0-9]{32})\b"#,
        3.0,
    )
    .pos(&["DD_API_KEY={h:32}", "  datadog_api_key: \"{h:32}\""])
    .neg(&["DD_API_KEY=<DATADOG_API_KEY>", "DD_API_KEY=00000000000000000000000000000000"]),
    rule(
        "datadog-app-key",
        "Datadog application key",
        &["datadog", "dd_app_key", "dd-application-key", "dd_application_key"],
        r#"(?i)(?:datadog|dd[_\-]?app(?:lication)?[_\-]?key).{0,30}?['"\x60]?\s*(?:=|:|=>|,)\s*['"\x60]?([a-f0-9]{40})\b"#,
        3.0,
    )
    .pos(&["DD_APP_KEY={h:40}"])
    .neg(&["DD_APP_KEY=${DD_APP_KEY}"]),
    rule(
        "pagerduty-api-key",
        "PagerDuty API key",
        &["pagerduty"],
        r#"(?i)pagerduty.{0,30}?(?:key|token).{0,10}?['"\x60]?\s*(?:=|:|=>|,)\s*['"\x60]?([A-Za-z0-9_+\-]{20})(?:[^A-Za-z0-9_+\-]|$)"#,
        3.5,
    )
    .pos(&["PAGERDUTY_TOKEN=u+{a:18}"])
    .neg(&["PAGERDUTY_TOKEN=${PAGERDUTY_TOKEN}"]),
    rule(
        "dynatrace-api-token",
        "Dynatrace API token",
        &["dt0c01."],
        r"\b(dt0c01\.[A-Z0-9]{24}\.[A-Z0-9]{64})\b",
        3.5,
    )
    .pos(&["DT_API_TOKEN=dt0c01.{U:24}.{U:64}"])
    .neg(&["DT_API_TOKEN=dt0c01.XXXXXXXXXXXXXXXXXXXXXXXX.XXXX"]),
    rule(
        "sonarqube-token",
        "SonarQube / SonarCloud token",
        &["sqp_", "squ_", "sqa_"],
        r"\b(sq[pua]_[a-f0-9]{40})\b",
        3.0,
    )
    .pos(&["SONAR_TOKEN=sqp_{h:40}"])
    .neg(&["SONAR_TOKEN=sqp_<token>"]),
    rule(
        "snyk-token",
        "Snyk API token",
        &["snyk"],
        r#"(?i)snyk.{0,30}?(?:token|key).{0,10}?['"\x60]?\s*(?:=|:|=>|,)\s*['"\x60]?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b"#,
        3.0,
    )
    .pos(&["SNYK_TOKEN={uuid}"])
    .neg(&["SNYK_TOKEN=${{ secrets.SNYK_TOKEN }}"]),
    rule(
        "codecov-token",
        "Codecov upload token",
        &["codecov"],
        r#"(?i)codecov.{0,30}?token.{0,10}?['"\x60]?\s*(?:=|:|=>|,)\s*['"\x60]?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b"#,
        3.0,
    )
    .pos(&["CODECOV_TOKEN={uuid}"])
    .neg(&["CODECOV_TOKEN=<token>"]),
    rule(
        "circleci-token",
        "CircleCI personal API token",
        &["ccipat_"],
        r"\b(CCIPAT_[A-Za-z0-9]{22}_[a-f0-9]{40})\b",
        3.0,
    )
    .pos(&["CIRCLE_TOKEN=CCIPAT_{a:22}_{h:40}"])
    .neg(&["CIRCLE_TOKEN=CCIPAT_xxxxxxxxxxxxxxxxxxxxxx_xxxx"]),
    rule(
        "buildkite-token",
        "Buildkite API access token",
        &["bkua_"],
        r"\b(bkua_[a-f0-9]{40})\b",
        3.0,
    )
    .pos(&["BUILDKITE_API_TOKEN=bkua_{h:40}"])
    .neg(&["BUILDKITE_API_TOKEN=bkua_<token>"]),
    rule(
        "postman-api-key",
        "Postman API key",
        &["pmak-"],
        r"\b(PMAK-[a-f0-9]{24}-[a-f0-9]{34})\b",
        3.0,
    )
    .pos(&["POSTMAN_API_KEY=PMAK-{h:24}-{h:34}"])
    .neg(&["POSTMAN_API_KEY=PMAK-xxxxxxxxxxxxxxxxxxxxxxxx-xxxx"]),
    rule(
        "onepassword-service-account-token",
        "1Password service account token",
        &["ops_eyj"],
        r"\b(ops_eyJ[A-Za-z0-9+/=_\-]{250,})",
        3.5,
    )
    .pos(&["OP_SERVICE_ACCOUNT_TOKEN=ops_eyJzaWduSW5BZGRyZXNzIjoi{b:300}"])
    .neg(&["OP_SERVICE_ACCOUNT_TOKEN=ops_eyJ..."]),
    rule(
        "onepassword-secret-key",
        "1Password account secret key",
        &["a3-"],
        r"\b(A3-[A-Z0-9]{6}-(?:[A-Z0-9]{11}|[A-Z0-9]{6}-[A-Z0-9]{5})-[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{5})\b",
        3.0,
    )
    .pos(&["secret key: A3-{U:6}-{U:11}-{U:5}-{U:5}-{U:5}"])
    .neg(&["secret key: A3-XXXXXX-XXXXXXXXXXX-XXXXX-XXXXX-XXXXX"]),
    rule(
        "openshift-user-token",
        "OpenShift user token",
        &["sha256~"],
        r"\b(sha256~[A-Za-z0-9_\-]{43})(?:[^A-Za-z0-9_\-]|$)",
        3.5,
    )
    .pos(&["oc login --token=sha256~{u:43} --server=https://api.c.example:6443"])
    .neg(&["oc login --token=sha256~<token>"]),
    rule(
        "infracost-api-key",
        "Infracost API key",
        &["ico-"],
        r"\b(ico-[A-Za-z0-9]{32})\b",
        3.5,
    )
    .pos(&["INFRACOST_API_KEY=ico-{a:32}"])
    .neg(&["INFRACOST_API_KEY=ico-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"]),
    rule(
        "prefect-api-key",
        "Prefect Cloud API key",
        &["pnu_"],
        r"\b(pnu_[A-Za-z0-9]{36})\b",
        3.5,
    )
    .pos(&["PREFECT_API_KEY=pnu_{a:36}"])
    .neg(&["PREFECT_API_KEY=pnu_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"]),
    rule(
        "sidekiq-enterprise-credentials",
        "Sidekiq Enterprise / Pro credentials",
        &["contribsys"],
        r"(?i)contribsys[\w.]*\S*?[=:]\s*['\x22]?([a-f0-9]{8}:[a-f0-9]{8})\b",
        2.5,
    )
    .pos(&["BUNDLE_ENTERPRISE__CONTRIBSYS__COM={h:8}:{h:8}"])
    .neg(&["BUNDLE_ENTERPRISE__CONTRIBSYS__COM=xxxxxxxx:xxxxxxxx"]),
    rule(
        "defined-networking-api-key",
        "Defined Networking API key",
        &["dnkey-"],
        r"\b(dnkey-[a-z0-9=_\-]{26}-[a-z0-9=_\-]{52})(?:[^a-z0-9=_\-]|$)",
        3.5,
    )
    .pos(&["DN_API_KEY=dnkey-{l:26}-{l:52}"])
    .neg(&["DN_API_KEY=dnkey-xxxxxxxxxxxxxxxxxxxxxxxxxx-x"]),
    rule(
        "scalingo-api-token",
        "Scalingo API token",
        &["tk-us-"],
        r"\b(tk-us-[A-Za-z0-9_\-]{48})(?:[^A-Za-z0-9_\-]|$)",
        3.5,
    )
    .pos(&["SCALINGO_API_TOKEN=tk-us-{u:48}"])
    .neg(&["SCALINGO_API_TOKEN=tk-us-<token>"]),
    rule(
        "okta-api-token",
        "Okta API token",
        &["okta"],
        r#"(?i)okta.{0,30}?(?:token|key).{0,10}?['"\x60]?\s*(?:=|:|=>|,)\s*['"\x60]?(00[A-Za-z0-9_\-]{40})(?:[^A-Za-z0-9_\-]|$)"#,
        3.5,
    )
    .pos(&["OKTA_API_TOKEN=00{u:40}"])
    .neg(&["OKTA_API_TOKEN=00xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"]),
];
