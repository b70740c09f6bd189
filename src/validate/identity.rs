//! The service account: its metadata, and the token settings that only apply to a mounted token.

use super::{FieldError, meta};
use crate::crd::{
    MAX_TOKEN_EXPIRATION_SECONDS, MIN_TOKEN_EXPIRATION_SECONDS, StatelessServiceSpec,
};

pub(super) fn check_service_account(spec: &StatelessServiceSpec, errors: &mut Vec<FieldError>) {
    let Some(account) = &spec.service_account else {
        return;
    };
    meta::check_annotations(
        "spec.serviceAccount.annotations",
        &account.annotations,
        errors,
    );
    meta::check_labels("spec.serviceAccount.labels", &account.labels, errors);
    if account.audience.is_some() && !account.automount_token {
        errors.push(FieldError::new(
            "spec.serviceAccount.audience",
            "serviceAccount.audience is the audience of the mounted token: it needs automountToken: true",
        ));
    }
    let seconds = account.expiration_seconds;
    if !(MIN_TOKEN_EXPIRATION_SECONDS..=MAX_TOKEN_EXPIRATION_SECONDS).contains(&seconds) {
        errors.push(FieldError::new(
            "spec.serviceAccount.expirationSeconds",
            format!(
                "must be between {MIN_TOKEN_EXPIRATION_SECONDS} and {MAX_TOKEN_EXPIRATION_SECONDS}, not {seconds}"
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{errors, has};
    use serde_json::json;

    #[test]
    fn metadata_syntax_and_token_settings() {
        let e = errors(json!({"image": "x", "serviceAccount": {
            "annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/x", "bad key": "v"},
            "labels": {"azure.workload.identity/use": "true", "team": "not ok"},
            "expirationSeconds": 599}}));
        assert!(
            has(
                &e,
                "spec.serviceAccount.annotations[bad key]: \"bad key\" is not a valid key"
            ),
            "{e:?}"
        );
        assert!(
            has(
                &e,
                "spec.serviceAccount.labels[team]: \"not ok\" is not a valid label value"
            ),
            "{e:?}"
        );
        assert!(
            has(
                &e,
                "spec.serviceAccount.expirationSeconds: must be between 600 and 86400, not 599"
            ),
            "{e:?}"
        );
        assert_eq!(e.len(), 3, "{e:?}");
        let e = errors(json!({"image": "x", "service": {"annotations": {"-x": ""}}}));
        assert!(has(&e, "spec.service.annotations[-x]"), "{e:?}");
    }
}
