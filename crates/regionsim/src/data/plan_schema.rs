//! The tables a plan's database carries in the simulator: the reference schemas when the
//! plan names exactly their tables, the user's DDL when given (`failover drill --schema
//! DIR`), otherwise columns generated around the plan's keys and time columns.
//!
//! The simulator creates every table from its own column types ([`ColType`]) in the
//! backend's dialect, so a PostgreSQL schema file drills on SQLite or MariaDB too. A column
//! type outside those is simulated as the nearest one, and each such choice is returned as a
//! note the drill prints: the report compares what the simulated tables hold, so a type the
//! simulator approximates is a difference from production worth seeing.

use sqlparser::ast::{ColumnOption, CreateTable, Statement, TableConstraint};
use sqlparser::dialect::{Dialect as SqlDialect, MySqlDialect, PostgreSqlDialect};
use sqlparser::parser::Parser;
use std::sync::Arc;

use failover_core::plan::{GlobalDatabase as Database, Table};

use super::DataError;
use super::values::{ColType, Column, Schema, TableDef};

/// The schema of `db` without a DDL file: a reference schema when the plan's report names
/// exactly its tables and keys (or the database has no report), otherwise generated columns.
pub fn generated_schema(db: &Database) -> Schema {
    let Some(report) = &db.report else {
        return if db.name.contains("catalog") { Schema::Catalog } else { Schema::Orders };
    };
    for reference in [Schema::Orders, Schema::Catalog] {
        if same_tables(&reference.tables(), &report.tables) {
            return reference;
        }
    }
    Schema::Plan(Arc::new(report.tables.iter().map(generated_table).collect()))
}

fn same_tables(defs: &[TableDef], tables: &[Table]) -> bool {
    defs.len() == tables.len()
        && defs
            .iter()
            .all(|d| tables.iter().any(|t| t.name == d.name && t.key.iter().map(String::as_str).eq(d.key_columns())))
}

/// A plan table with generated columns: the key columns (integers, or a timestamp for the
/// time column), three value columns of common types (an integer, a nullable decimal, a
/// text), and the time and ignored columns as timestamps.
fn generated_table(t: &Table) -> TableDef {
    let mut columns: Vec<Column> = Vec::new();
    let push = |columns: &mut Vec<Column>, name: &str, ty, nullable| {
        if !columns.iter().any(|c| c.name == name) {
            columns.push(Column { name: name.to_string(), ty, nullable });
        }
    };
    for k in &t.key {
        let ty = if t.time_column.as_deref() == Some(k.as_str()) { ColType::Timestamp } else { ColType::BigInt };
        push(&mut columns, k, ty, false);
    }
    push(&mut columns, "qty", ColType::Int, false);
    push(&mut columns, "amount", ColType::Decimal, true);
    push(&mut columns, "label", ColType::Text, false);
    for c in t.time_column.iter().chain(&t.created_column).chain(&t.ignore_columns) {
        push(&mut columns, c, ColType::Timestamp, false);
    }
    let key = t.key.iter().map(|k| columns.iter().position(|c| &c.name == k).unwrap_or(0)).collect();
    TableDef { name: t.name.clone(), columns, key }
}

/// The schema of `db` from the user's DDL (`file` names it in messages): every table of the
/// plan's report must be created there, with the plan's key as its primary key (when the DDL
/// declares one) and the plan's time and ignored columns among its columns. Returns the
/// notes on the types the simulator approximates.
pub fn ddl_schema(db: &Database, file: &str, ddl: &str) -> Result<(Schema, Vec<String>), DataError> {
    let bad = |msg: String| DataError::Schema(format!("{file}: {msg}"));
    let Some(report) = &db.report else {
        return Err(bad(format!("database `{}` has no report in the plan, so no tables to simulate", db.name)));
    };
    let dialect: Box<dyn SqlDialect> =
        if db.engine.as_str().contains("mysql") { Box::new(MySqlDialect {}) } else { Box::new(PostgreSqlDialect {}) };
    let statements = Parser::parse_sql(dialect.as_ref(), ddl).map_err(|e| bad(e.to_string()))?;
    let creates: Vec<&CreateTable> = statements
        .iter()
        .filter_map(|s| match s {
            Statement::CreateTable(c) => Some(c),
            _ => None,
        })
        .collect();
    let mut notes = Vec::new();
    let mut defs = Vec::new();
    for (i, t) in report.tables.iter().enumerate() {
        let path = format!("databases[{}].report.tables[{i}]", db.name);
        let wanted = unqualified(&t.name);
        let create = creates
            .iter()
            .find(|c| unqualified(&c.name.to_string()).eq_ignore_ascii_case(wanted))
            .ok_or_else(|| bad(format!("{path}: no CREATE TABLE {} in the file", t.name)))?;
        defs.push(table_of(create, t, &path, &mut notes).map_err(bad)?);
    }
    Ok((Schema::Plan(Arc::new(defs)), notes))
}

/// `public.orders` -> `orders`, quotes removed.
fn unqualified(name: &str) -> &str {
    let last = name.rsplit('.').next().unwrap_or(name);
    last.trim_matches(|c| c == '"' || c == '`')
}

fn table_of(create: &CreateTable, t: &Table, path: &str, notes: &mut Vec<String>) -> Result<TableDef, String> {
    let mut columns = Vec::new();
    let mut primary: Vec<String> = Vec::new();
    for c in &create.columns {
        let name = c.name.value.clone();
        let declared = c.data_type.to_string();
        let (ty, note) = col_type(&declared);
        if let Some(note) = note {
            notes.push(format!("{}.{name}: {declared} simulated as {note}", t.name));
        }
        let mut nullable = true;
        for o in &c.options {
            match &o.option {
                ColumnOption::NotNull => nullable = false,
                ColumnOption::PrimaryKey(_) => {
                    nullable = false;
                    primary.push(name.clone());
                }
                _ => {}
            }
        }
        columns.push(Column { name, ty, nullable });
    }
    for constraint in &create.constraints {
        if let TableConstraint::PrimaryKey(pk) = constraint {
            primary = pk
                .columns
                .iter()
                .map(|c| {
                    let text = c.to_string();
                    let name = text.split_whitespace().next().unwrap_or("");
                    name.trim_matches(|c| c == '"' || c == '`').to_string()
                })
                .collect();
        }
    }
    let position =
        |columns: &[Column], name: &str| columns.iter().position(|c: &Column| c.name.eq_ignore_ascii_case(name));
    let mut key = Vec::new();
    for (j, k) in t.key.iter().enumerate() {
        let i = position(&columns, k)
            .ok_or_else(|| format!("{path}.key[{j}]: column `{k}` is not in CREATE TABLE {}", t.name))?;
        key.push(i);
    }
    if !primary.is_empty()
        && !primary.iter().map(|p| p.to_ascii_lowercase()).eq(t.key.iter().map(|k| k.to_ascii_lowercase()))
    {
        return Err(format!(
            "{path}.key: the plan says [{}] but CREATE TABLE {} declares PRIMARY KEY ({})",
            t.key.join(", "),
            t.name,
            primary.join(", ")
        ));
    }
    for &i in &key {
        columns[i].nullable = false;
    }
    for (field, col) in [("time_column", &t.time_column), ("created_column", &t.created_column)] {
        let Some(tc) = col else { continue };
        let i = position(&columns, tc)
            .ok_or_else(|| format!("{path}.{field}: column `{tc}` is not in CREATE TABLE {}", t.name))?;
        if columns[i].ty != ColType::Timestamp {
            return Err(format!("{path}.{field}: column `{tc}` is not a timestamp in CREATE TABLE {}", t.name));
        }
    }
    for (j, c) in t.ignore_columns.iter().enumerate() {
        position(&columns, c)
            .ok_or_else(|| format!("{path}.ignore_columns[{j}]: column `{c}` is not in CREATE TABLE {}", t.name))?;
    }
    Ok(TableDef { name: t.name.clone(), columns, key })
}

/// The simulator's type for a declared SQL type, and a note when it only approximates it.
fn col_type(declared: &str) -> (ColType, Option<&'static str>) {
    let d = declared.to_ascii_lowercase();
    let base = d.split(|c: char| c == '(' || c.is_whitespace()).next().unwrap_or("");
    match base {
        "bigint" | "int8" | "bigserial" | "serial8" => (ColType::BigInt, None),
        "int" | "integer" | "int4" | "int2" | "smallint" | "mediumint" | "serial" | "serial4" | "smallserial" => {
            (ColType::Int, None)
        }
        "tinyint" | "bool" | "boolean" => (ColType::Int, Some("an integer")),
        "numeric" | "decimal" | "dec" if d.ends_with(",2)") => (ColType::Decimal, None),
        "numeric" | "decimal" | "dec" | "money" | "real" | "float" | "float4" | "float8" | "double" => {
            (ColType::Decimal, Some("a decimal with two fraction digits"))
        }
        "timestamp" | "timestamptz" | "datetime" => (ColType::Timestamp, None),
        "date" | "time" => (ColType::Timestamp, Some("a timestamp")),
        "text" | "varchar" | "char" | "character" | "nvarchar" | "citext" | "string" | "tinytext" | "mediumtext"
        | "longtext" => (ColType::Text, None),
        _ => (ColType::Text, Some("text")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_types_map_to_the_simulated_ones() {
        assert_eq!(col_type("BIGINT"), (ColType::BigInt, None));
        assert_eq!(col_type("numeric(12,2)"), (ColType::Decimal, None));
        assert_eq!(col_type("NUMERIC(10,4)").0, ColType::Decimal);
        assert!(col_type("NUMERIC(10,4)").1.is_some());
        assert_eq!(col_type("timestamp(6) with time zone"), (ColType::Timestamp, None));
        assert_eq!(col_type("VARCHAR(40)"), (ColType::Text, None));
        assert_eq!(col_type("jsonb"), (ColType::Text, Some("text")));
        assert_eq!(col_type("boolean"), (ColType::Int, Some("an integer")));
    }

    fn ledger(db: &str) -> Database {
        let plan = failover_core::Plan::from_yaml(include_str!("../../../../examples/ledger.plan.yaml")).unwrap();
        plan.databases.into_iter().find(|d| d.name == db).unwrap()
    }

    #[test]
    fn ddl_gives_the_columns_keys_and_nullability_of_each_plan_table() {
        let ddl = include_str!("../../../../examples/ledger-schema/accounts.sql");
        let (schema, notes) = ddl_schema(&ledger("accounts"), "accounts.sql", ddl).unwrap();
        let tables = schema.tables();
        assert_eq!(tables.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["accounts", "transfers"]);
        let accounts = &tables[0];
        let cols: Vec<(&str, ColType, bool)> =
            accounts.columns.iter().map(|c| (c.name.as_str(), c.ty, c.nullable)).collect();
        assert_eq!(
            cols,
            [
                ("account_id", ColType::BigInt, false),
                ("owner_email", ColType::Text, false),
                ("currency", ColType::Text, false),
                ("balance", ColType::Decimal, true),
                ("frozen", ColType::Int, false),
                ("profile", ColType::Text, true),
                ("updated_at", ColType::Timestamp, false),
            ]
        );
        assert_eq!(accounts.key_columns(), ["account_id"]);
        assert_eq!(tables[1].key_columns(), ["transfer_id"], "a table constraint names the key");
        assert_eq!(
            notes,
            ["accounts.frozen: BOOLEAN simulated as an integer", "accounts.profile: JSONB simulated as text"]
        );

        let events = include_str!("../../../../examples/ledger-schema/events.sql");
        let (schema, _) = ddl_schema(&ledger("events"), "events.sql", events).unwrap();
        assert_eq!(schema.tables()[0].key_columns(), ["stream", "seq"], "MySQL backticks and a composite key");
    }

    #[test]
    fn ddl_that_disagrees_with_the_plan_is_refused_naming_the_field() {
        let db = ledger("accounts");
        let cases = [
            (
                "CREATE TABLE accounts (account_id bigint PRIMARY KEY, updated_at timestamp);",
                "tables[1]: no CREATE TABLE transfers",
            ),
            (
                "CREATE TABLE accounts (id bigint PRIMARY KEY, updated_at timestamp); CREATE TABLE transfers (transfer_id bigint, booked_at timestamp);",
                "tables[0].key[0]: column `account_id` is not in CREATE TABLE accounts",
            ),
            (
                "CREATE TABLE accounts (account_id bigint PRIMARY KEY, updated_at text); CREATE TABLE transfers (transfer_id bigint, booked_at timestamp);",
                "tables[0].time_column: column `updated_at` is not a timestamp",
            ),
            (
                "CREATE TABLE accounts (account_id bigint, owner text, updated_at timestamp, PRIMARY KEY (owner)); CREATE TABLE transfers (transfer_id bigint, booked_at timestamp);",
                "tables[0].key: the plan says [account_id] but CREATE TABLE accounts declares PRIMARY KEY (owner)",
            ),
            ("CREATE TABLE accounts (", "accounts.sql: "),
        ];
        for (ddl, want) in cases {
            let err = ddl_schema(&db, "accounts.sql", ddl).unwrap_err().to_string();
            assert!(err.contains(want), "{ddl}\n  -> {err}\n  wanted {want}");
        }
    }

    #[test]
    fn without_ddl_the_reference_tables_stay_and_others_are_generated() {
        let plan = failover_core::Plan::from_yaml(include_str!("../../../../examples/retail-store.plan.yaml")).unwrap();
        let kinds: Vec<Schema> = plan.databases.iter().map(generated_schema).collect();
        assert_eq!(kinds, [Schema::Catalog, Schema::Orders]);
        let sessions = generated_schema(&ledger("sessions")).tables();
        let cols: Vec<(&str, ColType)> = sessions[0].columns.iter().map(|c| (c.name.as_str(), c.ty)).collect();
        assert_eq!(
            cols,
            [
                ("session_id", ColType::BigInt),
                ("qty", ColType::Int),
                ("amount", ColType::Decimal),
                ("label", ColType::Text),
                ("started_at", ColType::Timestamp),
                ("touched_at", ColType::Timestamp),
            ]
        );
        assert_eq!(sessions[1].key_columns(), ["session_id", "line_no"]);
    }
}
