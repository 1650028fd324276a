//! The tables of each Region and the operations on them: pure data, every time given by
//! the caller, no lock and no I/O (the service in `dynamodb.rs` holds this behind its
//! lock and speaks the wire protocol).
//!
//! Each Region has its own tables (no global tables). A table has a partition key only
//! (no sort key), optional global secondary indexes (partition key only, sparse) and an
//! optional TTL attribute. Time to live is modeled as AWS documents it: an item whose TTL
//! has passed is still read, queried and still satisfies conditions until the background
//! sweep deletes it, at a seeded delay after expiry ([`TtlSweep`]), never at the expiry
//! itself. The sweep is computed lazily: every operation first removes the items whose
//! modeled deletion time has passed.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::expr::{self, Attrs, CmpOp, Cond, ExprKind, Operand, Path, Update};
use super::value::{AttrValue, Item, Number, item_from_json, item_size, item_to_json};

/// The account in every ARN.
pub const ACCOUNT: &str = "111122223333";
/// The largest item, in bytes (names and values).
const MAX_ITEM_BYTES: usize = 400 * 1024;
/// Items whose TTL was more than five years in the past are never deleted by TTL.
const FIVE_YEARS: Duration = Duration::from_secs(5 * 365 * 24 * 3600);

/// The type of a key attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    S,
    N,
    B,
}

impl KeyType {
    pub fn name(self) -> &'static str {
        match self {
            KeyType::S => "S",
            KeyType::N => "N",
            KeyType::B => "B",
        }
    }

    fn parse(s: &str) -> Option<KeyType> {
        match s {
            "S" => Some(KeyType::S),
            "N" => Some(KeyType::N),
            "B" => Some(KeyType::B),
            _ => None,
        }
    }

    fn matches(self, v: &AttrValue) -> bool {
        matches!(
            (self, v),
            (KeyType::S, AttrValue::S(_)) | (KeyType::N, AttrValue::N(_)) | (KeyType::B, AttrValue::B(_))
        )
    }
}

/// Which attributes a global secondary index holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Projection {
    All,
    KeysOnly,
    Include(Vec<String>),
}

/// A global secondary index (partition key only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSpec {
    pub name: String,
    pub hash_key: String,
    pub hash_key_type: KeyType,
    pub projection: Projection,
}

/// A table as declared at set-up (or created through `CreateTable`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    pub name: String,
    pub hash_key: String,
    pub hash_key_type: KeyType,
    pub indexes: Vec<IndexSpec>,
    /// The TTL attribute, when TTL is enabled.
    pub ttl_attribute: Option<String>,
    /// The Regions that have the table; empty: both Regions of the pair.
    pub regions: Vec<String>,
}

impl TableSpec {
    /// A table keyed by `hash_key`, without indexes or TTL, in both Regions.
    pub fn new(name: &str, hash_key: &str, hash_key_type: KeyType) -> Self {
        Self {
            name: name.to_string(),
            hash_key: hash_key.to_string(),
            hash_key_type,
            indexes: Vec::new(),
            ttl_attribute: None,
            regions: Vec::new(),
        }
    }

    /// Adds a global secondary index projecting every attribute.
    pub fn with_index(mut self, name: &str, hash_key: &str, hash_key_type: KeyType) -> Self {
        self.indexes.push(IndexSpec {
            name: name.to_string(),
            hash_key: hash_key.to_string(),
            hash_key_type,
            projection: Projection::All,
        });
        self
    }

    /// Enables TTL on `attribute` (a Number of Unix seconds).
    pub fn with_ttl(mut self, attribute: &str) -> Self {
        self.ttl_attribute = Some(attribute.to_string());
        self
    }

    /// Only in these Regions.
    pub fn in_regions(mut self, regions: &[&str]) -> Self {
        self.regions = regions.iter().map(|r| r.to_string()).collect();
        self
    }

    /// The shape the approval function and the proposer's lock use: partition key `pk`
    /// (S), index `by-execution` on `execution_arn` (S), TTL on `expires_at`.
    pub fn approvals(name: &str) -> Self {
        TableSpec::new(name, "pk", KeyType::S)
            .with_index("by-execution", "execution_arn", KeyType::S)
            .with_ttl("expires_at")
    }
}

/// When TTL deletes an expired item: `delay × (1 − jitter × u)` after its expiry, `u` in
/// `[0, 1)` drawn from a hash of (`seed`, Region, table, key, expiry), so a run is
/// reproducible and items do not all go at once. An item written when that time had
/// already passed goes the same delay after the write.
#[derive(Debug, Clone, PartialEq)]
pub struct TtlSweep {
    pub delay: Duration,
    pub jitter: f64,
    pub seed: u64,
}

impl Default for TtlSweep {
    /// Deletion between 24 and 48 hours after expiry ("typically within two days").
    fn default() -> Self {
        Self { delay: Duration::from_secs(48 * 3600), jitter: 0.5, seed: 0 }
    }
}

/// An item TTL deleted.
#[derive(Debug, Clone, PartialEq)]
pub struct TtlDeletion {
    pub region: String,
    pub table: String,
    /// The item's partition key value.
    pub key: AttrValue,
    pub expired_at: SystemTime,
    pub deleted_at: SystemTime,
}

/// The error of a call, as DynamoDB answers it (`code` without its namespace).
#[derive(Debug, Clone, PartialEq)]
pub struct DdbError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    /// The item, for `ReturnValuesOnConditionCheckFailure: ALL_OLD`.
    pub item: Option<Item>,
}

impl DdbError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), item: None }
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(400, "ValidationException", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(400, "ResourceNotFoundException", message)
    }

    pub fn conditional(item: Option<Item>) -> Self {
        Self { item, ..Self::new(400, "ConditionalCheckFailedException", "The conditional request failed") }
    }
}

/// A partition key value, ordered as DynamoDB orders keys.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum KeyVal {
    S(String),
    N(Number),
    B(Vec<u8>),
}

impl KeyVal {
    fn from_attr(v: &AttrValue) -> Option<KeyVal> {
        match v {
            AttrValue::S(s) => Some(KeyVal::S(s.clone())),
            AttrValue::N(n) => Some(KeyVal::N(n.clone())),
            AttrValue::B(b) => Some(KeyVal::B(b.clone())),
            _ => None,
        }
    }

    fn to_attr(&self) -> AttrValue {
        match self {
            KeyVal::S(s) => AttrValue::S(s.clone()),
            KeyVal::N(n) => AttrValue::N(n.clone()),
            KeyVal::B(b) => AttrValue::B(b.clone()),
        }
    }

    fn hash_text(&self) -> String {
        match self {
            KeyVal::S(s) => format!("S:{s}"),
            KeyVal::N(n) => format!("N:{n}"),
            KeyVal::B(b) => format!("B:{b:?}"),
        }
    }
}

/// An item and when it was last written.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub attrs: Item,
    pub written: SystemTime,
}

/// One table of one Region.
#[derive(Debug, Clone)]
pub struct Table {
    pub spec: TableSpec,
    pub region: String,
    pub arn: String,
    pub id: String,
    pub created: SystemTime,
    /// `CREATING` until then, `ACTIVE` after.
    pub active_at: SystemTime,
    pub billing_mode: String,
    pub throughput: (u64, u64),
    pub items: BTreeMap<KeyVal, Stored>,
}

fn epoch_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

impl Table {
    fn new(spec: TableSpec, region: &str, id: String, now: SystemTime, active_at: SystemTime) -> Table {
        Table {
            arn: format!("arn:aws:dynamodb:{region}:{ACCOUNT}:table/{}", spec.name),
            spec,
            region: region.to_string(),
            id,
            created: now,
            active_at,
            billing_mode: "PAY_PER_REQUEST".into(),
            throughput: (0, 0),
            items: BTreeMap::new(),
        }
    }

    pub fn status(&self, now: SystemTime) -> &'static str {
        if now >= self.active_at { "ACTIVE" } else { "CREATING" }
    }

    /// The item with this partition key value.
    pub fn get(&self, key: &AttrValue) -> Option<&Item> {
        KeyVal::from_attr(key).and_then(|k| self.items.get(&k)).map(|s| &s.attrs)
    }

    fn throughput_json(&self) -> Value {
        json!({ "NumberOfDecreasesToday": 0, "ReadCapacityUnits": self.throughput.0, "WriteCapacityUnits": self.throughput.1 })
    }

    /// The `TableDescription` of DescribeTable / CreateTable.
    pub fn describe(&self, status: &str) -> Value {
        let mut defs: Vec<(String, KeyType)> = vec![(self.spec.hash_key.clone(), self.spec.hash_key_type)];
        for i in &self.spec.indexes {
            if !defs.iter().any(|(n, _)| *n == i.hash_key) {
                defs.push((i.hash_key.clone(), i.hash_key_type));
            }
        }
        let size: usize = self.items.values().map(|s| item_size(&s.attrs)).sum();
        let mut d = json!({
            "TableName": self.spec.name,
            "TableArn": self.arn,
            "TableId": self.id,
            "TableStatus": status,
            "CreationDateTime": epoch_seconds(self.created),
            "KeySchema": [{ "AttributeName": self.spec.hash_key, "KeyType": "HASH" }],
            "AttributeDefinitions": defs.iter().map(|(n, t)| json!({ "AttributeName": n, "AttributeType": t.name() })).collect::<Vec<_>>(),
            "ItemCount": self.items.len(),
            "TableSizeBytes": size,
            "ProvisionedThroughput": self.throughput_json(),
            "BillingModeSummary": { "BillingMode": self.billing_mode },
            "DeletionProtectionEnabled": false,
        });
        if !self.spec.indexes.is_empty() {
            let index_status = if status == "ACTIVE" { "ACTIVE" } else { status };
            d["GlobalSecondaryIndexes"] = self
                .spec
                .indexes
                .iter()
                .map(|i| {
                    let members = self.items.values().filter(|s| s.attrs.contains_key(&i.hash_key));
                    let (count, bytes) = members.fold((0usize, 0usize), |(c, b), s| (c + 1, b + item_size(&s.attrs)));
                    let kind = match &i.projection {
                        Projection::All => "ALL",
                        Projection::KeysOnly => "KEYS_ONLY",
                        Projection::Include(_) => "INCLUDE",
                    };
                    let mut projection = json!({ "ProjectionType": kind });
                    if let Projection::Include(names) = &i.projection {
                        projection["NonKeyAttributes"] = json!(names);
                    }
                    json!({
                        "IndexName": i.name,
                        "KeySchema": [{ "AttributeName": i.hash_key, "KeyType": "HASH" }],
                        "Projection": projection,
                        "IndexStatus": index_status,
                        "ItemCount": count,
                        "IndexSizeBytes": bytes,
                        "IndexArn": format!("{}/index/{}", self.arn, i.name),
                        "ProvisionedThroughput": self.throughput_json(),
                    })
                })
                .collect::<Vec<_>>()
                .into();
        }
        d
    }

    /// The key of an item to store, checked against the key schema and the indexes.
    fn check_item(&self, item: &Item) -> Result<KeyVal, DdbError> {
        let h = &self.spec.hash_key;
        let v = item.get(h).ok_or_else(|| {
            DdbError::validation(format!("One or more parameter values were invalid: Missing the key {h} in the item"))
        })?;
        if !self.spec.hash_key_type.matches(v) {
            return Err(DdbError::validation(format!(
                "One or more parameter values were invalid: Type mismatch for key {h} expected: {} actual: {}",
                self.spec.hash_key_type.name(),
                v.type_name()
            )));
        }
        if v.as_s() == Some("") {
            return Err(empty_key(h));
        }
        for i in &self.spec.indexes {
            let Some(iv) = item.get(&i.hash_key) else { continue };
            if !i.hash_key_type.matches(iv) {
                return Err(DdbError::validation(format!(
                    "One or more parameter values were invalid: Type mismatch for Index Key {} Expected: {} Actual: {} IndexName: {}",
                    i.hash_key,
                    i.hash_key_type.name(),
                    iv.type_name(),
                    i.name
                )));
            }
            if iv.as_s() == Some("") {
                return Err(DdbError::validation(format!(
                    "One or more parameter values are not valid. A value specified for a secondary index key is not \
                     supported. The AttributeValue for a key attribute cannot contain an empty string value. \
                     IndexName: {}, IndexKey: {}",
                    i.name, i.hash_key
                )));
            }
        }
        if item_size(item) > MAX_ITEM_BYTES {
            return Err(DdbError::validation("Item size has exceeded the maximum allowed size"));
        }
        KeyVal::from_attr(v).ok_or_else(|| DdbError::validation("The provided key element does not match the schema"))
    }

    /// The key of a request's `Key` (exactly the partition key, of its type).
    fn request_key(&self, input: &Value) -> Result<KeyVal, DdbError> {
        let raw = input.get("Key").ok_or_else(|| DdbError::validation(null_member("key")))?;
        let key = item_from_json(raw).map_err(DdbError::validation)?;
        let mismatch = || DdbError::validation("The provided key element does not match the schema");
        if key.len() != 1 {
            return Err(mismatch());
        }
        let v = key.get(&self.spec.hash_key).ok_or_else(mismatch)?;
        if !self.spec.hash_key_type.matches(v) {
            return Err(mismatch());
        }
        if v.as_s() == Some("") {
            return Err(empty_key(&self.spec.hash_key));
        }
        KeyVal::from_attr(v).ok_or_else(mismatch)
    }

    /// The key attributes of an item for `LastEvaluatedKey`: the table's, and the index's.
    fn key_attrs(&self, item: &Item, index: Option<&IndexSpec>) -> Item {
        let mut names = vec![self.spec.hash_key.as_str()];
        if let Some(i) = index {
            names.push(&i.hash_key);
        }
        names.iter().filter_map(|n| item.get(*n).map(|v| (n.to_string(), v.clone()))).collect()
    }

    /// What an index holds of an item.
    fn index_view(&self, item: &Item, index: &IndexSpec) -> Item {
        match &index.projection {
            Projection::All => item.clone(),
            Projection::KeysOnly => self.key_attrs(item, Some(index)),
            Projection::Include(extra) => {
                let mut out = self.key_attrs(item, Some(index));
                for n in extra {
                    if let Some(v) = item.get(n) {
                        out.insert(n.clone(), v.clone());
                    }
                }
                out
            }
        }
    }
}

fn empty_key(name: &str) -> DdbError {
    DdbError::validation(format!(
        "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: {name}"
    ))
}

fn null_member(member: &str) -> String {
    format!(
        "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
    )
}

fn str_param<'a>(input: &'a Value, key: &str) -> Option<&'a str> {
    input.get(key).and_then(Value::as_str)
}

fn table_name(input: &Value) -> Result<&str, DdbError> {
    str_param(input, "TableName").ok_or_else(|| DdbError::validation(null_member("tableName")))
}

/// The expressions of one request, parsed with its placeholders.
#[derive(Debug, Default)]
struct Exprs {
    key: Option<Cond>,
    update: Option<Update>,
    condition: Option<Cond>,
    filter: Option<Cond>,
    projection: Option<Vec<Path>>,
}

fn parse_exprs(input: &Value) -> Result<Exprs, DdbError> {
    let names = match input.get("ExpressionAttributeNames") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => {
            if m.is_empty() {
                return Err(DdbError::validation("ExpressionAttributeNames must not be empty"));
            }
            let mut out = BTreeMap::new();
            for (k, v) in m {
                let v = v
                    .as_str()
                    .ok_or_else(|| DdbError::validation("ExpressionAttributeNames contains invalid value"))?;
                out.insert(k.clone(), v.to_string());
            }
            Some(out)
        }
        Some(_) => return Err(DdbError::new(400, "SerializationException", "ExpressionAttributeNames is not a map")),
    };
    let values = match input.get("ExpressionAttributeValues") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => {
            if m.is_empty() {
                return Err(DdbError::validation("ExpressionAttributeValues must not be empty"));
            }
            let mut out = BTreeMap::new();
            for (k, v) in m {
                let v = AttrValue::from_json(v).map_err(|e| {
                    DdbError::validation(format!("ExpressionAttributeValues contains invalid value: {e} for key {k}"))
                })?;
                out.insert(k.clone(), v);
            }
            Some(out)
        }
        Some(_) => return Err(DdbError::new(400, "SerializationException", "ExpressionAttributeValues is not a map")),
    };
    let (has_names, has_values) = (names.is_some(), values.is_some());
    let mut attrs = Attrs::new(names.unwrap_or_default(), values.unwrap_or_default());
    let v = |m: String| DdbError::validation(m);
    let mut e = Exprs::default();
    if let Some(src) = str_param(input, "KeyConditionExpression") {
        e.key = Some(expr::parse_condition(src, ExprKind::KeyCondition, &mut attrs).map_err(v)?);
    }
    if let Some(src) = str_param(input, "UpdateExpression") {
        e.update = Some(expr::parse_update(src, &mut attrs).map_err(v)?);
    }
    if let Some(src) = str_param(input, "ConditionExpression") {
        e.condition = Some(expr::parse_condition(src, ExprKind::Condition, &mut attrs).map_err(v)?);
    }
    if let Some(src) = str_param(input, "FilterExpression") {
        e.filter = Some(expr::parse_condition(src, ExprKind::Filter, &mut attrs).map_err(v)?);
    }
    if let Some(src) = str_param(input, "ProjectionExpression") {
        e.projection = Some(expr::parse_projection(src, &mut attrs).map_err(v)?);
    }
    let any =
        e.key.is_some() || e.update.is_some() || e.condition.is_some() || e.filter.is_some() || e.projection.is_some();
    if !any && has_names {
        return Err(DdbError::validation("ExpressionAttributeNames can only be specified when using expressions"));
    }
    if !any && has_values {
        return Err(DdbError::validation("ExpressionAttributeValues can only be specified when using expressions"));
    }
    attrs.check_unused().map_err(v)?;
    Ok(e)
}

/// Refuses the legacy (non-expression) parameters, which the simulator does not model;
/// `pairs` are (legacy parameter, the expression parameter that replaces it).
fn refuse_legacy(input: &Value, pairs: &[(&str, &str)]) -> Result<(), DdbError> {
    for (legacy, modern) in pairs {
        if input.get(*legacy).is_some_and(|v| !v.is_null()) {
            if input.get(*modern).is_some_and(|v| !v.is_null()) {
                return Err(DdbError::validation(format!(
                    "Can not use both expression and non-expression parameters in the same request: \
                     Non-expression parameters: {{{legacy}}} Expression parameters: {{{modern}}}"
                )));
            }
            return Err(DdbError::validation(format!(
                "regionsim models only expressions: use {modern} instead of the legacy parameter {legacy}"
            )));
        }
    }
    Ok(())
}

fn return_values<'a>(input: &'a Value, allowed: &[&str], message: &str) -> Result<&'a str, DdbError> {
    let rv = str_param(input, "ReturnValues").unwrap_or("NONE");
    if allowed.contains(&rv) { Ok(rv) } else { Err(DdbError::validation(message)) }
}

const PUT_DELETE_RETURN: &[&str] = &["NONE", "ALL_OLD"];
const UPDATE_RETURN: &[&str] = &["NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"];

fn check_condition(cond: Option<&Cond>, old: Option<&Item>, input: &Value) -> Result<(), DdbError> {
    let Some(c) = cond else { return Ok(()) };
    let empty = Item::new();
    if expr::eval(c, old.unwrap_or(&empty)) {
        return Ok(());
    }
    let with_item = str_param(input, "ReturnValuesOnConditionCheckFailure") == Some("ALL_OLD");
    Err(DdbError::conditional(if with_item { old.cloned() } else { None }))
}

fn attributes(item: Option<Item>) -> Value {
    match item {
        Some(a) if !a.is_empty() => json!({ "Attributes": item_to_json(&a) }),
        _ => json!({}),
    }
}

/// FNV-1a, then SplitMix64's finaliser: a hash that is the same on every platform and
/// every Rust release (the standard library's is not promised to be).
fn stable_hash(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.iter().chain(std::iter::once(&0xffu8)) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// The tables of both Regions: `DynamoDb::state()`.
#[derive(Debug, Clone, Default)]
pub struct DynamoModel {
    /// Region → table name → table.
    pub tables: BTreeMap<String, BTreeMap<String, Table>>,
    pub sweep: TtlSweep,
    /// How long a table created through `CreateTable` stays `CREATING`.
    pub creation_delay: Duration,
    /// Every item TTL deleted, in order.
    pub ttl_deletions: Vec<TtlDeletion>,
    created: u64,
}

impl DynamoModel {
    pub fn new(sweep: TtlSweep, creation_delay: Duration) -> Self {
        Self { sweep, creation_delay, ..Self::default() }
    }

    fn next_id(&mut self, region: &str, name: &str) -> String {
        self.created += 1;
        let h = stable_hash(&[region.as_bytes(), name.as_bytes()]);
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            h >> 32,
            (h >> 16) & 0xffff,
            h & 0xfff,
            (h >> 4) & 0xfff,
            self.created
        )
    }

    /// Adds a table, `ACTIVE` at once (a table declared at set-up).
    pub fn declare(&mut self, region: &str, spec: TableSpec, now: SystemTime) {
        let id = self.next_id(region, &spec.name);
        let name = spec.name.clone();
        self.tables.entry(region.to_string()).or_default().insert(name, Table::new(spec, region, id, now, now));
    }

    pub fn table(&self, region: &str, name: &str) -> Option<&Table> {
        self.tables.get(region).and_then(|t| t.get(name))
    }

    /// When TTL deletes the item with this key, if it is set to expire.
    pub fn sweep_due(&self, region: &str, table: &str, key: &AttrValue) -> Option<SystemTime> {
        let t = self.table(region, table)?;
        let attr = t.spec.ttl_attribute.as_deref()?;
        let k = KeyVal::from_attr(key)?;
        let stored = t.items.get(&k)?;
        sweep_time(&self.sweep, region, table, &k, stored, attr).map(|(_, at)| at)
    }

    /// Removes every item whose modeled TTL deletion time is not after `now`.
    pub fn sweep(&mut self, now: SystemTime) {
        let DynamoModel { tables, sweep, ttl_deletions, .. } = self;
        for (region, region_tables) in tables.iter_mut() {
            for (name, t) in region_tables.iter_mut() {
                let Some(attr) = t.spec.ttl_attribute.clone() else { continue };
                let due: Vec<(KeyVal, SystemTime, SystemTime)> = t
                    .items
                    .iter()
                    .filter_map(|(k, s)| {
                        let (expired, at) = sweep_time(sweep, region, name, k, s, &attr)?;
                        (at <= now).then(|| (k.clone(), expired, at))
                    })
                    .collect();
                for (k, expired_at, deleted_at) in due {
                    t.items.remove(&k);
                    ttl_deletions.push(TtlDeletion {
                        region: region.clone(),
                        table: name.clone(),
                        key: k.to_attr(),
                        expired_at,
                        deleted_at,
                    });
                }
            }
        }
    }

    fn active_table(&self, region: &str, name: &str, now: SystemTime) -> Result<&Table, DdbError> {
        self.table(region, name)
            .filter(|t| t.status(now) == "ACTIVE")
            .ok_or_else(|| DdbError::not_found("Requested resource not found"))
    }

    fn active_table_mut(&mut self, region: &str, name: &str, now: SystemTime) -> Result<&mut Table, DdbError> {
        self.tables
            .get_mut(region)
            .and_then(|t| t.get_mut(name))
            .filter(|t| t.status(now) == "ACTIVE")
            .ok_or_else(|| DdbError::not_found("Requested resource not found"))
    }

    /// Stores an item directly (for tests and set-up), as an unconditional PutItem would.
    pub fn put(&mut self, region: &str, table: &str, item: Item, now: SystemTime) -> Result<(), DdbError> {
        let t = self
            .tables
            .get_mut(region)
            .and_then(|t| t.get_mut(table))
            .ok_or_else(|| DdbError::not_found("Requested resource not found"))?;
        let key = t.check_item(&item)?;
        t.items.insert(key, Stored { attrs: item, written: now });
        Ok(())
    }

    /// One API call in `region` at `now` (after the TTL sweep up to `now`).
    pub fn call(&mut self, region: &str, op: &str, input: &Value, now: SystemTime) -> Result<Value, DdbError> {
        self.sweep(now);
        match op {
            "PutItem" => self.put_item(region, input, now),
            "GetItem" => self.get_item(region, input, now),
            "UpdateItem" => self.update_item(region, input, now),
            "DeleteItem" => self.delete_item(region, input, now),
            "Query" => self.query(region, input, now),
            "Scan" => self.scan(region, input, now),
            "CreateTable" => self.create_table(region, input, now),
            "DescribeTable" => self.describe_table(region, input, now),
            "DeleteTable" => self.delete_table(region, input),
            "ListTables" => self.list_tables(region, input),
            "UpdateTimeToLive" => self.update_ttl(region, input, now),
            "DescribeTimeToLive" => self.describe_ttl(region, input),
            other => Err(DdbError::new(400, "UnknownOperationException", format!("regionsim does not model {other}"))),
        }
    }

    fn put_item(&mut self, region: &str, input: &Value, now: SystemTime) -> Result<Value, DdbError> {
        let rv = return_values(input, PUT_DELETE_RETURN, "ReturnValues can only be ALL_OLD or NONE")?;
        refuse_legacy(input, &[("Expected", "ConditionExpression"), ("ConditionalOperator", "ConditionExpression")])?;
        let ex = parse_exprs(input)?;
        let name = table_name(input)?;
        let raw = input.get("Item").ok_or_else(|| DdbError::validation(null_member("item")))?;
        let item = item_from_json(raw).map_err(DdbError::validation)?;
        let t = self.active_table_mut(region, name, now)?;
        let key = t.check_item(&item)?;
        check_condition(ex.condition.as_ref(), t.items.get(&key).map(|s| &s.attrs), input)?;
        let old = t.items.insert(key, Stored { attrs: item, written: now }).map(|s| s.attrs);
        Ok(if rv == "ALL_OLD" { attributes(old) } else { json!({}) })
    }

    fn get_item(&mut self, region: &str, input: &Value, now: SystemTime) -> Result<Value, DdbError> {
        refuse_legacy(input, &[("AttributesToGet", "ProjectionExpression")])?;
        let ex = parse_exprs(input)?;
        let t = self.active_table(region, table_name(input)?, now)?;
        let key = t.request_key(input)?;
        Ok(match t.items.get(&key) {
            Some(s) => {
                let item = match &ex.projection {
                    Some(paths) => expr::project(&s.attrs, paths),
                    None => s.attrs.clone(),
                };
                json!({ "Item": item_to_json(&item) })
            }
            None => json!({}),
        })
    }

    fn update_item(&mut self, region: &str, input: &Value, now: SystemTime) -> Result<Value, DdbError> {
        let rv = return_values(
            input,
            UPDATE_RETURN,
            "1 validation error detected: Value at 'returnValues' failed to satisfy constraint: \
             Member must satisfy enum value set: [ALL_NEW, UPDATED_OLD, ALL_OLD, NONE, UPDATED_NEW]",
        )?;
        refuse_legacy(
            input,
            &[
                ("AttributeUpdates", "UpdateExpression"),
                ("Expected", "ConditionExpression"),
                ("ConditionalOperator", "ConditionExpression"),
            ],
        )?;
        let ex = parse_exprs(input)?;
        let t = self.active_table_mut(region, table_name(input)?, now)?;
        let key = t.request_key(input)?;
        let hash = t.spec.hash_key.clone();
        if let Some(u) = &ex.update
            && u.paths().iter().any(|p| p.top() == hash)
        {
            return Err(DdbError::validation(format!(
                "One or more parameter values were invalid: Cannot update attribute {hash}. This attribute is part of the key"
            )));
        }
        let old = t.items.get(&key).map(|s| s.attrs.clone());
        check_condition(ex.condition.as_ref(), old.as_ref(), input)?;
        let base = old.clone().unwrap_or_else(|| Item::from([(hash.clone(), key.to_attr())]));
        let new = match &ex.update {
            Some(u) => expr::apply_update(&base, u).map_err(DdbError::validation)?,
            None => base,
        };
        t.check_item(&new)?;
        t.items.insert(key, Stored { attrs: new.clone(), written: now });
        let touched: BTreeSet<String> = ex.update.as_ref().map(Update::touched).unwrap_or_default();
        let only_touched = |i: Item| -> Item { i.into_iter().filter(|(k, _)| touched.contains(k)).collect() };
        Ok(attributes(match rv {
            "ALL_OLD" => old,
            "ALL_NEW" => Some(new),
            "UPDATED_OLD" => old.map(only_touched),
            "UPDATED_NEW" => Some(only_touched(new)),
            _ => None,
        }))
    }

    fn delete_item(&mut self, region: &str, input: &Value, now: SystemTime) -> Result<Value, DdbError> {
        let rv = return_values(input, PUT_DELETE_RETURN, "ReturnValues can only be ALL_OLD or NONE")?;
        refuse_legacy(input, &[("Expected", "ConditionExpression"), ("ConditionalOperator", "ConditionExpression")])?;
        let ex = parse_exprs(input)?;
        let t = self.active_table_mut(region, table_name(input)?, now)?;
        let key = t.request_key(input)?;
        check_condition(ex.condition.as_ref(), t.items.get(&key).map(|s| &s.attrs), input)?;
        let old = t.items.remove(&key).map(|s| s.attrs);
        Ok(if rv == "ALL_OLD" { attributes(old) } else { json!({}) })
    }

    fn query(&mut self, region: &str, input: &Value, now: SystemTime) -> Result<Value, DdbError> {
        refuse_legacy(
            input,
            &[
                ("KeyConditions", "KeyConditionExpression"),
                ("QueryFilter", "FilterExpression"),
                ("AttributesToGet", "ProjectionExpression"),
                ("ConditionalOperator", "FilterExpression"),
            ],
        )?;
        let ex = parse_exprs(input)?;
        let key_cond = ex.key.as_ref().ok_or_else(|| {
            DdbError::validation(
                "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.",
            )
        })?;
        let t = self.active_table(region, table_name(input)?, now)?;
        let index = find_index(t, input)?;
        let (hash, hash_type) = match index {
            Some(i) => (i.hash_key.as_str(), i.hash_key_type),
            None => (t.spec.hash_key.as_str(), t.spec.hash_key_type),
        };
        let wanted = key_condition_value(key_cond, hash, hash_type)?;
        if let Some(f) = &ex.filter
            && let Some(k) = f.top_names().into_iter().find(|n| n == hash)
        {
            return Err(DdbError::validation(format!(
                "Filter Expression can only contain non-primary key attributes: Primary key attribute: {k}"
            )));
        }
        let candidates: Vec<&Item> = match index {
            None => t.items.get(&wanted).map(|s| &s.attrs).into_iter().collect(),
            Some(i) => t
                .items
                .values()
                .map(|s| &s.attrs)
                .filter(|a| a.get(&i.hash_key).and_then(KeyVal::from_attr).as_ref() == Some(&wanted))
                .collect(),
        };
        page(t, index, candidates, &ex, input)
    }

    fn scan(&mut self, region: &str, input: &Value, now: SystemTime) -> Result<Value, DdbError> {
        refuse_legacy(
            input,
            &[
                ("ScanFilter", "FilterExpression"),
                ("AttributesToGet", "ProjectionExpression"),
                ("ConditionalOperator", "FilterExpression"),
            ],
        )?;
        if input.get("TotalSegments").is_some_and(|v| !v.is_null()) {
            return Err(DdbError::validation("regionsim does not model parallel scans (Segment, TotalSegments)"));
        }
        let ex = parse_exprs(input)?;
        let t = self.active_table(region, table_name(input)?, now)?;
        let index = find_index(t, input)?;
        let candidates: Vec<&Item> =
            t.items.values().map(|s| &s.attrs).filter(|a| index.is_none_or(|i| a.contains_key(&i.hash_key))).collect();
        page(t, index, candidates, &ex, input)
    }

    fn create_table(&mut self, region: &str, input: &Value, now: SystemTime) -> Result<Value, DdbError> {
        let name = table_name(input)?;
        if name.len() < 3
            || name.len() > 255
            || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
        {
            return Err(DdbError::validation(format!(
                "1 validation error detected: Value '{name}' at 'tableName' failed to satisfy constraint: \
                 Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+ and have length between 3 and 255"
            )));
        }
        if input.get("LocalSecondaryIndexes").is_some_and(|v| !v.is_null()) {
            return Err(DdbError::validation("regionsim does not model local secondary indexes"));
        }
        let mut defs: BTreeMap<String, KeyType> = BTreeMap::new();
        for d in input.get("AttributeDefinitions").and_then(Value::as_array).into_iter().flatten() {
            let n = str_param(d, "AttributeName").unwrap_or("");
            let ty = str_param(d, "AttributeType").and_then(KeyType::parse).ok_or_else(|| {
                DdbError::validation(
                    "1 validation error detected: Value at 'attributeDefinitions.member.attributeType' failed to \
                     satisfy constraint: Member must satisfy enum value set: [B, N, S]",
                )
            })?;
            defs.insert(n.to_string(), ty);
        }
        let mut used = BTreeSet::new();
        let hash = hash_key_of(input.get("KeySchema"), &defs, &mut used)?;
        let mut indexes = Vec::new();
        for g in input.get("GlobalSecondaryIndexes").and_then(Value::as_array).into_iter().flatten() {
            let index_name = str_param(g, "IndexName").unwrap_or("").to_string();
            let (key, key_type) = hash_key_of(g.get("KeySchema"), &defs, &mut used)?;
            let p = g.get("Projection").cloned().unwrap_or(Value::Null);
            let projection = match str_param(&p, "ProjectionType").unwrap_or("ALL") {
                "KEYS_ONLY" => Projection::KeysOnly,
                "INCLUDE" => Projection::Include(
                    p.get("NonKeyAttributes")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect(),
                ),
                _ => Projection::All,
            };
            if indexes.iter().any(|i: &IndexSpec| i.name == index_name) {
                return Err(DdbError::validation(format!(
                    "One or more parameter values were invalid: Duplicate index name: {index_name}"
                )));
            }
            indexes.push(IndexSpec { name: index_name, hash_key: key, hash_key_type: key_type, projection });
        }
        if used.len() != defs.len() {
            return Err(DdbError::validation(
                "One or more parameter values were invalid: Number of attributes in KeySchema does not exactly match \
                 number of attributes defined in AttributeDefinitions",
            ));
        }
        let billing = str_param(input, "BillingMode").unwrap_or("PROVISIONED").to_string();
        let pt = input.get("ProvisionedThroughput").filter(|v| !v.is_null());
        let throughput = match (billing.as_str(), pt) {
            ("PAY_PER_REQUEST", Some(_)) => {
                return Err(DdbError::validation(
                    "One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can \
                     be specified when BillingMode is PAY_PER_REQUEST",
                ));
            }
            ("PAY_PER_REQUEST", None) => (0, 0),
            (_, Some(pt)) => (
                pt.get("ReadCapacityUnits").and_then(Value::as_u64).unwrap_or(0),
                pt.get("WriteCapacityUnits").and_then(Value::as_u64).unwrap_or(0),
            ),
            (_, None) => {
                return Err(DdbError::validation(
                    "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be \
                     specified when BillingMode is PROVISIONED",
                ));
            }
        };
        if self.table(region, name).is_some() {
            return Err(DdbError::new(400, "ResourceInUseException", format!("Table already exists: {name}")));
        }
        let spec = TableSpec {
            name: name.to_string(),
            hash_key: hash.0,
            hash_key_type: hash.1,
            indexes,
            ttl_attribute: None,
            regions: vec![region.to_string()],
        };
        let id = self.next_id(region, name);
        let mut t = Table::new(spec, region, id, now, now + self.creation_delay);
        t.billing_mode = billing;
        t.throughput = throughput;
        let desc = t.describe(t.status(now));
        self.tables.entry(region.to_string()).or_default().insert(name.to_string(), t);
        Ok(json!({ "TableDescription": desc }))
    }

    fn describe_table(&mut self, region: &str, input: &Value, now: SystemTime) -> Result<Value, DdbError> {
        let name = table_name(input)?;
        let t = self.table(region, name).ok_or_else(|| table_not_found(name))?;
        Ok(json!({ "Table": t.describe(t.status(now)) }))
    }

    fn delete_table(&mut self, region: &str, input: &Value) -> Result<Value, DdbError> {
        let name = table_name(input)?;
        let t = self.tables.get_mut(region).and_then(|t| t.remove(name)).ok_or_else(|| table_not_found(name))?;
        Ok(json!({ "TableDescription": t.describe("DELETING") }))
    }

    fn list_tables(&mut self, region: &str, input: &Value) -> Result<Value, DdbError> {
        let limit = input.get("Limit").and_then(Value::as_u64).unwrap_or(100).clamp(1, 100) as usize;
        let start = str_param(input, "ExclusiveStartTableName");
        let names: Vec<&String> = self
            .tables
            .get(region)
            .into_iter()
            .flat_map(|t| t.keys())
            .filter(|n| start.is_none_or(|s| n.as_str() > s))
            .collect();
        let page: Vec<&String> = names.iter().take(limit).copied().collect();
        let mut out = json!({ "TableNames": page });
        if names.len() > limit
            && let Some(last) = page.last()
        {
            out["LastEvaluatedTableName"] = json!(last);
        }
        Ok(out)
    }

    fn update_ttl(&mut self, region: &str, input: &Value, now: SystemTime) -> Result<Value, DdbError> {
        let name = table_name(input)?;
        let spec = input
            .get("TimeToLiveSpecification")
            .ok_or_else(|| DdbError::validation(null_member("timeToLiveSpecification")))?;
        let enabled = spec.get("Enabled").and_then(Value::as_bool).unwrap_or(false);
        let attr = str_param(spec, "AttributeName").unwrap_or("").to_string();
        let t = self.active_table_mut(region, name, now)?;
        match (&t.spec.ttl_attribute, enabled) {
            (Some(_), true) => return Err(DdbError::validation("TimeToLive is already enabled")),
            (None, false) => return Err(DdbError::validation("TimeToLive is already disabled")),
            _ => {}
        }
        t.spec.ttl_attribute = enabled.then(|| attr.clone());
        Ok(json!({ "TimeToLiveSpecification": { "AttributeName": attr, "Enabled": enabled } }))
    }

    fn describe_ttl(&mut self, region: &str, input: &Value) -> Result<Value, DdbError> {
        let name = table_name(input)?;
        let t = self.table(region, name).ok_or_else(|| table_not_found(name))?;
        Ok(match &t.spec.ttl_attribute {
            Some(a) => json!({ "TimeToLiveDescription": { "TimeToLiveStatus": "ENABLED", "AttributeName": a } }),
            None => json!({ "TimeToLiveDescription": { "TimeToLiveStatus": "DISABLED" } }),
        })
    }
}

fn table_not_found(name: &str) -> DdbError {
    DdbError::not_found(format!("Requested resource not found: Table: {name} not found"))
}

/// When TTL deletes a stored item: `(expiry, deletion)`; `None` when it never does (no
/// TTL attribute, not a Number, or more than five years in the past when written).
fn sweep_time(
    cfg: &TtlSweep,
    region: &str,
    table: &str,
    key: &KeyVal,
    stored: &Stored,
    attr: &str,
) -> Option<(SystemTime, SystemTime)> {
    let AttrValue::N(n) = stored.attrs.get(attr)? else { return None };
    let secs = n.to_f64();
    // Beyond any simulated span (and Duration::from_secs_f64's range).
    if !secs.is_finite() || secs <= 0.0 || secs > 1e12 {
        return None;
    }
    let expiry = UNIX_EPOCH + Duration::from_secs_f64(secs);
    if expiry + FIVE_YEARS < stored.written {
        return None;
    }
    let u = (stable_hash(&[
        &cfg.seed.to_le_bytes(),
        region.as_bytes(),
        table.as_bytes(),
        key.hash_text().as_bytes(),
        &secs.to_bits().to_le_bytes(),
    ]) >> 11) as f64
        / (1u64 << 53) as f64;
    let delay = cfg.delay.mul_f64((1.0 - cfg.jitter.clamp(0.0, 1.0) * u).max(0.0));
    let mut at = expiry + delay;
    if at < stored.written {
        // Written after its deletion was due: the next sweep finds it.
        at = stored.written + delay;
    }
    Some((expiry, at))
}

fn hash_key_of(
    schema: Option<&Value>,
    defs: &BTreeMap<String, KeyType>,
    used: &mut BTreeSet<String>,
) -> Result<(String, KeyType), DdbError> {
    let elems: Vec<&Value> = schema.and_then(Value::as_array).into_iter().flatten().collect();
    if elems.iter().any(|e| str_param(e, "KeyType") == Some("RANGE")) {
        return Err(DdbError::validation("regionsim does not model sort (RANGE) keys"));
    }
    let hashes: Vec<&str> = elems
        .iter()
        .filter(|e| str_param(e, "KeyType") == Some("HASH"))
        .filter_map(|e| str_param(e, "AttributeName"))
        .collect();
    let [name] = hashes.as_slice() else {
        return Err(DdbError::validation(
            "1 validation error detected: Value null at 'keySchema' failed to satisfy constraint: Member must have exactly one HASH key",
        ));
    };
    let ty = defs.get(*name).copied().ok_or_else(|| {
        DdbError::validation(format!(
            "One or more parameter values were invalid: Some index key attributes are not defined in \
             AttributeDefinitions. Keys: [{name}], AttributeDefinitions: [{}]",
            defs.keys().cloned().collect::<Vec<_>>().join(", ")
        ))
    })?;
    used.insert(name.to_string());
    Ok((name.to_string(), ty))
}

fn find_index<'t>(t: &'t Table, input: &Value) -> Result<Option<&'t IndexSpec>, DdbError> {
    let Some(name) = str_param(input, "IndexName") else { return Ok(None) };
    let index = t
        .spec
        .indexes
        .iter()
        .find(|i| i.name == name)
        .ok_or_else(|| DdbError::validation(format!("The table does not have the specified index: {name}")))?;
    if input.get("ConsistentRead").and_then(Value::as_bool) == Some(true) {
        return Err(DdbError::validation("Consistent reads are not supported on global secondary indexes"));
    }
    Ok(Some(index))
}

/// The partition key value a key condition asks for: `key = :v` (no sort keys here).
fn key_condition_value(cond: &Cond, hash: &str, ty: KeyType) -> Result<KeyVal, DdbError> {
    let missed = || DdbError::validation(format!("Query condition missed key schema element: {hash}"));
    match cond {
        Cond::Cmp(CmpOp::Eq, Operand::Path(p), Operand::Value(v))
        | Cond::Cmp(CmpOp::Eq, Operand::Value(v), Operand::Path(p))
            if p.is_top_level() =>
        {
            if p.top() != hash {
                return Err(missed());
            }
            if !ty.matches(v) {
                return Err(DdbError::validation(
                    "One or more parameter values were invalid: Condition parameter type does not match schema type",
                ));
            }
            KeyVal::from_attr(v).ok_or_else(missed)
        }
        Cond::Or(..)
        | Cond::Not(_)
        | Cond::In(..)
        | Cond::Exists(_)
        | Cond::NotExists(_)
        | Cond::Contains(..)
        | Cond::AttrType(..)
        | Cond::Cmp(CmpOp::Ne, ..) => {
            Err(DdbError::validation(format!("Invalid operator used in KeyConditionExpression: {}", cond.operator())))
        }
        other => {
            if other.top_names().contains(hash) {
                Err(DdbError::validation("Query key condition not supported"))
            } else {
                Err(missed())
            }
        }
    }
}

/// One page of a Query or Scan over `candidates` (in key order): `ExclusiveStartKey`,
/// `Limit` (items evaluated, before the filter), the filter, the index's projection and
/// the `ProjectionExpression`, `Select`.
fn page(
    t: &Table,
    index: Option<&IndexSpec>,
    candidates: Vec<&Item>,
    ex: &Exprs,
    input: &Value,
) -> Result<Value, DdbError> {
    let select = str_param(input, "Select");
    if let (Some("ALL_ATTRIBUTES"), Some(i)) = (select, index)
        && i.projection != Projection::All
    {
        return Err(DdbError::validation(format!(
            "One or more parameter values were invalid: Select type ALL_ATTRIBUTES is not supported for global \
             secondary index {} because its projection type is not ALL",
            i.name
        )));
    }
    let limit = match input.get("Limit").and_then(Value::as_i64) {
        Some(n) if n < 1 => {
            return Err(DdbError::validation(format!(
                "1 validation error detected: Value '{n}' at 'limit' failed to satisfy constraint: \
                 Member must have value greater than or equal to 1"
            )));
        }
        Some(n) => Some(n as usize),
        None => None,
    };
    let forward = input.get("ScanIndexForward").and_then(Value::as_bool).unwrap_or(true);
    let mut candidates = candidates;
    if !forward {
        candidates.reverse();
    }
    if let Some(raw) = input.get("ExclusiveStartKey").filter(|v| !v.is_null()) {
        let start = item_from_json(raw).map_err(DdbError::validation)?;
        let start_key = start
            .get(&t.spec.hash_key)
            .and_then(KeyVal::from_attr)
            .filter(|_| start.len() == t.key_attrs(&start, index).len())
            .ok_or_else(|| {
                DdbError::validation(
                    "The provided starting key is invalid: The provided key element does not match the schema",
                )
            })?;
        let table_key = |i: &Item| i.get(&t.spec.hash_key).and_then(KeyVal::from_attr);
        match candidates.iter().position(|i| table_key(i).as_ref() == Some(&start_key)) {
            Some(p) => {
                candidates.drain(..=p);
            }
            None => {
                candidates.retain(|i| table_key(i).is_some_and(|k| if forward { k > start_key } else { k < start_key }))
            }
        }
    }
    let evaluated: Vec<&Item> = match limit {
        Some(n) => candidates.iter().take(n).copied().collect(),
        None => candidates.clone(),
    };
    let last_key = match limit {
        Some(n) if evaluated.len() == n => evaluated.last().map(|i| t.key_attrs(i, index)),
        _ => None,
    };
    let matched: Vec<&Item> =
        evaluated.iter().copied().filter(|i| ex.filter.as_ref().is_none_or(|f| expr::eval(f, i))).collect();
    let mut out = json!({ "Count": matched.len(), "ScannedCount": evaluated.len() });
    if select != Some("COUNT") {
        let items: Vec<Value> = matched
            .iter()
            .map(|i| {
                let view = match index {
                    Some(ix) => t.index_view(i, ix),
                    None => (*i).clone(),
                };
                let view = match &ex.projection {
                    Some(paths) => expr::project(&view, paths),
                    None => view,
                };
                item_to_json(&view)
            })
            .collect();
        out["Items"] = Value::Array(items);
    }
    if let Some(k) = last_key {
        out["LastEvaluatedKey"] = item_to_json(&k);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    const T0: u64 = 1_767_225_600;

    fn model() -> DynamoModel {
        let mut m = DynamoModel::new(TtlSweep::default(), Duration::from_secs(5));
        m.declare("us-east-1", TableSpec::approvals("approvals"), at(T0));
        m
    }

    fn call(m: &mut DynamoModel, op: &str, input: Value, now: u64) -> Result<Value, DdbError> {
        m.call("us-east-1", op, &input, at(now))
    }

    #[test]
    fn conditional_put_then_conflict() {
        let mut m = model();
        let put = json!({"TableName": "approvals", "Item": {"pk": {"S": "lock"}, "owner": {"S": "a"}},
            "ConditionExpression": "attribute_not_exists(pk)"});
        call(&mut m, "PutItem", put.clone(), T0).unwrap();
        let err = call(&mut m, "PutItem", put, T0).unwrap_err();
        assert_eq!(
            (err.code, err.message.as_str()),
            ("ConditionalCheckFailedException", "The conditional request failed")
        );
    }

    #[test]
    fn update_creates_and_returns_values() {
        let mut m = model();
        let out = call(
            &mut m,
            "UpdateItem",
            json!({"TableName": "approvals", "Key": {"pk": {"S": "r1"}}, "UpdateExpression": "SET #s = :p",
                "ExpressionAttributeNames": {"#s": "status"}, "ExpressionAttributeValues": {":p": {"S": "pending"}},
                "ReturnValues": "ALL_NEW"}),
            T0,
        )
        .unwrap();
        assert_eq!(out["Attributes"], json!({"pk": {"S": "r1"}, "status": {"S": "pending"}}));
        let err = call(
            &mut m,
            "UpdateItem",
            json!({"TableName": "approvals", "Key": {"pk": {"S": "r1"}}, "UpdateExpression": "SET pk = :p",
                "ExpressionAttributeValues": {":p": {"S": "x"}}}),
            T0,
        )
        .unwrap_err();
        assert!(err.message.contains("This attribute is part of the key"), "{}", err.message);
    }

    #[test]
    fn gsi_query_is_sparse_and_pages() {
        let mut m = model();
        for (pk, exec) in [("a", Some("e1")), ("b", Some("e1")), ("c", Some("e2")), ("d", None)] {
            let mut item = json!({"pk": {"S": pk}});
            if let Some(e) = exec {
                item["execution_arn"] = json!({"S": e});
            }
            call(&mut m, "PutItem", json!({"TableName": "approvals", "Item": item}), T0).unwrap();
        }
        let q = json!({"TableName": "approvals", "IndexName": "by-execution", "KeyConditionExpression": "execution_arn = :e",
            "ExpressionAttributeValues": {":e": {"S": "e1"}}, "Limit": 1});
        let first = call(&mut m, "Query", q.clone(), T0).unwrap();
        assert_eq!(first["Items"][0]["pk"], json!({"S": "a"}));
        assert_eq!(first["LastEvaluatedKey"], json!({"pk": {"S": "a"}, "execution_arn": {"S": "e1"}}));
        let mut q2 = q;
        q2["ExclusiveStartKey"] = first["LastEvaluatedKey"].clone();
        let second = call(&mut m, "Query", q2, T0).unwrap();
        assert_eq!(second["Items"][0]["pk"], json!({"S": "b"}));
        let scan = call(&mut m, "Scan", json!({"TableName": "approvals", "IndexName": "by-execution"}), T0).unwrap();
        assert_eq!(scan["Count"], 3);
    }

    #[test]
    fn ttl_keeps_expired_items_until_the_sweep() {
        let mut m = model();
        let expiry = T0 + 60;
        call(
            &mut m,
            "PutItem",
            json!({"TableName": "approvals", "Item": {"pk": {"S": "r"}, "status": {"S": "pending"}, "expires_at": {"N": expiry.to_string()}}}),
            T0,
        )
        .unwrap();
        let due = m.sweep_due("us-east-1", "approvals", &AttrValue::s("r")).unwrap();
        let delay = due.duration_since(at(expiry)).unwrap();
        assert!(delay >= Duration::from_secs(24 * 3600) && delay <= Duration::from_secs(48 * 3600), "{delay:?}");
        let get = json!({"TableName": "approvals", "Key": {"pk": {"S": "r"}}, "ConsistentRead": true});
        let just_before = epoch_seconds(due) as u64 - 1;
        assert!(call(&mut m, "GetItem", get.clone(), just_before).unwrap().get("Item").is_some());
        assert!(call(&mut m, "GetItem", get, just_before + 2).unwrap().get("Item").is_none());
        assert_eq!(m.ttl_deletions.len(), 1);
        assert_eq!(m.ttl_deletions[0].deleted_at, due);
    }

    #[test]
    fn creating_tables_are_not_found_until_active() {
        let mut m = model();
        let create = json!({"TableName": "locks", "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]});
        let out = call(&mut m, "CreateTable", create.clone(), T0).unwrap();
        assert_eq!(out["TableDescription"]["TableStatus"], "CREATING");
        let put = json!({"TableName": "locks", "Item": {"pk": {"S": "x"}}});
        assert_eq!(call(&mut m, "PutItem", put.clone(), T0 + 1).unwrap_err().code, "ResourceNotFoundException");
        call(&mut m, "PutItem", put, T0 + 5).unwrap();
        assert_eq!(call(&mut m, "CreateTable", create, T0 + 6).unwrap_err().code, "ResourceInUseException");
    }

    #[test]
    fn key_conditions_are_checked() {
        let mut m = model();
        let q = |expr: &str| json!({"TableName": "approvals", "KeyConditionExpression": expr, "ExpressionAttributeValues": {":v": {"S": "x"}}});
        let e = call(&mut m, "Query", q("lease_holder = :v"), T0).unwrap_err();
        assert_eq!(e.message, "Query condition missed key schema element: pk");
        let e = call(&mut m, "Query", q("pk = :v OR pk = :v"), T0).unwrap_err();
        assert_eq!(e.message, "Invalid operator used in KeyConditionExpression: OR");
        let e = call(&mut m, "Query", q("pk > :v"), T0).unwrap_err();
        assert_eq!(e.message, "Query key condition not supported");
        assert_eq!(call(&mut m, "Query", q("pk = :v"), T0).unwrap()["Count"], 0);
    }
}
