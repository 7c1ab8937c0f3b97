//! Field-level merge (`updateTodo` with `baseVersion`): a client that
//! edited a todo offline sends the fields it changed and the version its
//! edit was based on. The edit applies when none of those fields changed
//! after that version (fields others changed meanwhile and the input does
//! not name are kept); otherwise nothing changes and the client gets the
//! todo as it stands to resolve the conflict. Each todo keeps the version
//! at which each of its mergeable fields last changed
//! ([`FieldVersions`], migration `field_versions`), which is all the
//! history this needs.

use crate::{
    db::Conn,
    todos::{
        TodoError,
        model::{self, FieldVersions, TodoRow},
    },
};

/// Checks a merge based on version `base` into `current` (the todo as
/// locked for this update) of an input whose fields `input` (GraphQL
/// names) would change the todo: `BAD_USER_INPUT` for a base newer than
/// the todo, `MergeConflict` when one of them changed after the base. The caller holds the todo's row lock, so the field versions
/// read here are those the write will follow.
pub(super) async fn check(
    conn: &Conn,
    current: &TodoRow,
    base: i32,
    input: &[&'static str],
) -> Result<(), TodoError> {
    if base > current.version {
        return Err(TodoError::invalid(
            "baseVersion",
            format!(
                "is a version from the future: the todo is at version {}",
                current.version
            ),
        ));
    }
    // Nothing changed since the base: no need to read the field versions.
    if base == current.version {
        return Ok(());
    }
    let versions = model::field_versions(conn, current.id).await?;
    let fields = changed_since(&versions, base, input);
    if fields.is_empty() {
        Ok(())
    } else {
        Err(TodoError::MergeConflict {
            base,
            fields,
            current: Box::new(current.current()),
        })
    }
}

/// The fields of `input` (GraphQL names) that changed after version
/// `base`, in the input's order.
pub(super) fn changed_since(
    versions: &FieldVersions,
    base: i32,
    input: &[&'static str],
) -> Vec<&'static str> {
    input
        .iter()
        .copied()
        // A name without a version is not merged: it never conflicts.
        .filter(|field| versions.of(field).is_some_and(|v| v > base))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const VERSIONS: FieldVersions = FieldVersions {
        title_version: 5,
        description_version: 1,
        completed_version: 3,
        due_at_version: 4,
    };

    #[test]
    fn only_fields_of_the_input_changed_after_the_base_conflict() {
        let all = ["title", "description", "completed", "dueAt"];
        assert_eq!(changed_since(&VERSIONS, 5, &all), Vec::<&str>::new());
        assert_eq!(changed_since(&VERSIONS, 4, &all), vec!["title"]);
        assert_eq!(
            changed_since(&VERSIONS, 2, &all),
            vec!["title", "completed", "dueAt"]
        );
        assert_eq!(
            changed_since(&VERSIONS, 1, &all),
            vec!["title", "completed", "dueAt"]
        );
        // Others changed the title and the due time after version 2; an
        // input of the description and completed only conflicts on
        // completed.
        assert_eq!(
            changed_since(&VERSIONS, 2, &["description", "completed"]),
            vec!["completed"]
        );
        assert_eq!(
            changed_since(&VERSIONS, 3, &["description", "completed"]),
            Vec::<&str>::new()
        );
        assert_eq!(changed_since(&VERSIONS, 1, &[]), Vec::<&str>::new());
    }

    #[test]
    fn field_versions_by_graphql_name() {
        assert_eq!(VERSIONS.of("title"), Some(5));
        assert_eq!(VERSIONS.of("description"), Some(1));
        assert_eq!(VERSIONS.of("completed"), Some(3));
        assert_eq!(VERSIONS.of("dueAt"), Some(4));
        assert_eq!(VERSIONS.of("position"), None);
    }
}
