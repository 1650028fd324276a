//! `DefinitionSubstitutions`: filling `${Placeholders}` as CloudFormation does at deploy time.

use std::collections::BTreeMap;

use crate::error::AslError;

/// Replaces every `${Name}` in `definition` with `substitutions[Name]`. A placeholder without
/// a value is an error naming every one, never left in place: a leftover `${...}` would
/// become a resource nobody can dispatch.
pub fn substitute(definition: &str, substitutions: &BTreeMap<String, String>) -> Result<String, AslError> {
    let mut out = String::with_capacity(definition.len());
    let mut missing: Vec<String> = Vec::new();
    let mut rest = definition;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let Some(end) = after.find('}') else {
            return Err(AslError::Substitution(format!(
                "unterminated placeholder `${{{}`",
                after.chars().take(40).collect::<String>()
            )));
        };
        let name = &after[..end];
        match substitutions.get(name) {
            Some(v) => out.push_str(v),
            None => {
                if !missing.iter().any(|m| m == name) {
                    missing.push(name.to_string());
                }
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    if missing.is_empty() {
        Ok(out)
    } else {
        Err(AslError::Substitution(format!(
            "no value for {}",
            missing.iter().map(|m| format!("${{{m}}}")).collect::<Vec<_>>().join(", ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_and_refuses_leftovers() {
        let subs = BTreeMap::from([("Fn".to_string(), "arn:aws:lambda:us-east-1:1:function:f".to_string())]);
        assert_eq!(
            substitute("{\"R\": \"${Fn}\"}", &subs).unwrap(),
            "{\"R\": \"arn:aws:lambda:us-east-1:1:function:f\"}"
        );
        let err = substitute("${Fn} ${A} ${B} ${A}", &subs).unwrap_err().to_string();
        assert!(err.contains("${A}, ${B}"), "{err}");
    }
}
