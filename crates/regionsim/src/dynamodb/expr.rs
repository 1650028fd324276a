//! DynamoDB expressions: condition, filter and key-condition expressions, update
//! expressions and projection expressions, parsed with their `ExpressionAttributeNames`
//! and `ExpressionAttributeValues` and evaluated against an item.
//!
//! Hand-written because no maintained crate parses and evaluates them: `dynamodb-expression`
//! only builds expression strings, `kstone-core` is a 0.1 storage engine, and `dynoxide-rs`
//! is a whole SQLite-backed emulator whose parser is not a library of its own.
//!
//! The grammar is DynamoDB's
//! (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.OperatorsAndFunctions.html,
//! https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.UpdateExpressions.html):
//!
//! ```text
//! condition ::= operand comparator operand | operand BETWEEN operand AND operand
//!             | operand IN ( operand (, operand)* ) | function
//!             | condition AND condition | condition OR condition | NOT condition | ( condition )
//! comparator ::= = | <> | < | <= | > | >=
//! function   ::= attribute_exists(path) | attribute_not_exists(path) | attribute_type(path, :t)
//!              | begins_with(path, operand) | contains(path, operand)
//! operand    ::= path | :value | size(path)
//! path       ::= name ( . name | [ n ] )*        name ::= identifier | #placeholder
//! update     ::= ( SET path = value (, ...)* | REMOVE path (, ...)* | ADD path :v (, ...)*
//!                | DELETE path :v (, ...)* )+      each clause at most once
//! value      ::= uoperand | uoperand + uoperand | uoperand - uoperand
//! uoperand   ::= path | :value | if_not_exists(path, uoperand) | list_append(uoperand, uoperand)
//! ```
//!
//! Precedence, from tightest: comparisons, `IN`, `BETWEEN`, functions, parentheses, `NOT`,
//! `AND`, `OR`. Keywords are case-insensitive; a bare attribute name that is one of
//! DynamoDB's reserved words is refused, as DynamoDB does. Errors are DynamoDB's
//! `ValidationException` messages (`Invalid ConditionExpression: Syntax error; token: ...`).

use std::collections::{BTreeMap, BTreeSet};

use super::value::{AttrValue, Item, Number};

/// Which request parameter an expression came from; its name starts every error message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExprKind {
    Condition,
    Filter,
    KeyCondition,
    Update,
    Projection,
}

impl ExprKind {
    pub fn param(self) -> &'static str {
        match self {
            ExprKind::Condition => "ConditionExpression",
            ExprKind::Filter => "FilterExpression",
            ExprKind::KeyCondition => "KeyConditionExpression",
            ExprKind::Update => "UpdateExpression",
            ExprKind::Projection => "ProjectionExpression",
        }
    }
}

/// One step of a document path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Elem {
    Attr(String),
    Index(usize),
}

/// A document path (`a.b[2].c`), names resolved.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Path(pub Vec<Elem>);

impl Path {
    /// A top-level attribute.
    pub fn attr(name: &str) -> Path {
        Path(vec![Elem::Attr(name.to_string())])
    }

    /// The top-level attribute the path starts at.
    pub fn top(&self) -> &str {
        match self.0.first() {
            Some(Elem::Attr(a)) => a,
            _ => "",
        }
    }

    /// Whether the path is just a top-level attribute.
    pub fn is_top_level(&self) -> bool {
        self.0.len() == 1
    }

    /// DynamoDB's rendering in messages: `[a, b, [0]]`.
    fn describe(&self) -> String {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|e| match e {
                Elem::Attr(a) => a.clone(),
                Elem::Index(i) => format!("[{i}]"),
            })
            .collect();
        format!("[{}]", parts.join(", "))
    }

    fn overlaps(&self, other: &Path) -> bool {
        let n = self.0.len().min(other.0.len());
        self.0[..n] == other.0[..n]
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operand {
    Path(Path),
    Value(AttrValue),
    Size(Path),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "<>",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

/// A condition (also a filter or a key condition).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cond {
    Cmp(CmpOp, Operand, Operand),
    Between(Operand, Operand, Operand),
    In(Operand, Vec<Operand>),
    Exists(Path),
    NotExists(Path),
    BeginsWith(Operand, Operand),
    Contains(Operand, Operand),
    AttrType(Path, String),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    Not(Box<Cond>),
}

impl Cond {
    /// The operator or function at the root, as DynamoDB names it in messages.
    pub fn operator(&self) -> &'static str {
        match self {
            Cond::Cmp(op, ..) => op.symbol(),
            Cond::Between(..) => "BETWEEN",
            Cond::In(..) => "IN",
            Cond::Exists(_) => "attribute_exists",
            Cond::NotExists(_) => "attribute_not_exists",
            Cond::BeginsWith(..) => "begins_with",
            Cond::Contains(..) => "contains",
            Cond::AttrType(..) => "attribute_type",
            Cond::And(..) => "AND",
            Cond::Or(..) => "OR",
            Cond::Not(_) => "NOT",
        }
    }

    /// Every top-level attribute the condition reads.
    pub fn top_names(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        self.collect_names(&mut out);
        out
    }

    fn collect_names(&self, out: &mut BTreeSet<String>) {
        fn operand(o: &Operand, out: &mut BTreeSet<String>) {
            if let Operand::Path(p) | Operand::Size(p) = o {
                out.insert(p.top().to_string());
            }
        }
        match self {
            Cond::Cmp(_, a, b) | Cond::BeginsWith(a, b) | Cond::Contains(a, b) => {
                operand(a, out);
                operand(b, out);
            }
            Cond::Between(a, b, c) => {
                operand(a, out);
                operand(b, out);
                operand(c, out);
            }
            Cond::In(a, list) => {
                operand(a, out);
                for o in list {
                    operand(o, out);
                }
            }
            Cond::Exists(p) | Cond::NotExists(p) | Cond::AttrType(p, _) => {
                out.insert(p.top().to_string());
            }
            Cond::And(a, b) | Cond::Or(a, b) => {
                a.collect_names(out);
                b.collect_names(out);
            }
            Cond::Not(a) => a.collect_names(out),
        }
    }
}

/// The right-hand side of a `SET` action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetValue {
    Single(UOperand),
    Plus(UOperand, UOperand),
    Minus(UOperand, UOperand),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UOperand {
    Path(Path),
    Value(AttrValue),
    IfNotExists(Path, Box<UOperand>),
    ListAppend(Box<UOperand>, Box<UOperand>),
}

/// A parsed update expression.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Update {
    pub set: Vec<(Path, SetValue)>,
    pub remove: Vec<Path>,
    pub add: Vec<(Path, AttrValue)>,
    pub delete: Vec<(Path, AttrValue)>,
}

impl Update {
    /// Every path the update writes, in clause order.
    pub fn paths(&self) -> Vec<&Path> {
        let mut out: Vec<&Path> = self.set.iter().map(|(p, _)| p).collect();
        out.extend(self.remove.iter());
        out.extend(self.add.iter().map(|(p, _)| p));
        out.extend(self.delete.iter().map(|(p, _)| p));
        out
    }

    /// The top-level attributes the update writes (for `UPDATED_OLD` / `UPDATED_NEW`).
    pub fn touched(&self) -> BTreeSet<String> {
        self.paths().into_iter().map(|p| p.top().to_string()).collect()
    }
}

/// A request's `ExpressionAttributeNames` and `ExpressionAttributeValues`, and which of
/// them its expressions used (DynamoDB refuses unused ones).
#[derive(Debug, Clone, Default)]
pub struct Attrs {
    names: BTreeMap<String, String>,
    values: BTreeMap<String, AttrValue>,
    used_names: BTreeSet<String>,
    used_values: BTreeSet<String>,
}

impl Attrs {
    pub fn new(names: BTreeMap<String, String>, values: BTreeMap<String, AttrValue>) -> Self {
        Self { names, values, used_names: BTreeSet::new(), used_values: BTreeSet::new() }
    }

    /// Refuses placeholders that no expression of the request used.
    pub fn check_unused(&self) -> Result<(), String> {
        let unused_values: Vec<&str> =
            self.values.keys().filter(|k| !self.used_values.contains(*k)).map(String::as_str).collect();
        if !unused_values.is_empty() {
            return Err(format!(
                "Value provided in ExpressionAttributeValues unused in expressions: keys: {{{}}}",
                unused_values.join(", ")
            ));
        }
        let unused_names: Vec<&str> =
            self.names.keys().filter(|k| !self.used_names.contains(*k)).map(String::as_str).collect();
        if !unused_names.is_empty() {
            return Err(format!(
                "Value provided in ExpressionAttributeNames unused in expressions: keys: {{{}}}",
                unused_names.join(", ")
            ));
        }
        Ok(())
    }
}

// ----- tokens -----

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Ident(String),
    /// `#name`
    Name(String),
    /// `:value`
    Value(String),
    Int(String),
    Sym(&'static str),
    Eof,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    start: usize,
    end: usize,
}

const SYMBOLS: [&str; 14] = ["<>", "<=", ">=", "(", ")", "[", "]", ",", ".", "=", "<", ">", "+", "-"];

fn word_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Splits an expression into tokens; `Err((start, end))` is the span of a character that
/// starts no token.
fn tokenize(src: &str) -> Result<Vec<Token>, (usize, usize)> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        if c == b'#' || c == b':' {
            i += 1;
            while i < b.len() && word_char(b[i]) {
                i += 1;
            }
            if i == start + 1 {
                return Err((start, start + 1));
            }
            let text = src[start..i].to_string();
            out.push(Token { tok: if c == b'#' { Tok::Name(text) } else { Tok::Value(text) }, start, end: i });
            continue;
        }
        if c.is_ascii_digit() {
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            out.push(Token { tok: Tok::Int(src[start..i].to_string()), start, end: i });
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' {
            while i < b.len() && word_char(b[i]) {
                i += 1;
            }
            out.push(Token { tok: Tok::Ident(src[start..i].to_string()), start, end: i });
            continue;
        }
        match SYMBOLS.iter().copied().find(|s| src[i..].starts_with(*s)) {
            Some(s) => {
                i += s.len();
                out.push(Token { tok: Tok::Sym(s), start, end: i });
            }
            None => {
                let len = src[i..].chars().next().map_or(1, char::len_utf8);
                return Err((start, start + len));
            }
        }
    }
    out.push(Token { tok: Tok::Eof, start: src.len(), end: src.len() });
    Ok(out)
}

/// Words that structure an expression: never attribute names, never "reserved".
const STRUCTURAL: [&str; 5] = ["AND", "OR", "NOT", "BETWEEN", "IN"];

fn is_structural(word: &str) -> bool {
    STRUCTURAL.iter().any(|k| k.eq_ignore_ascii_case(word))
}

/// DynamoDB's reserved words, which may only be used as attribute names through a `#name`
/// placeholder — https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ReservedWords.html
/// (the list's own spellings kept, `FLATTERN`, `INNTER` and `LOGED` included).
const RESERVED: &str = "ABORT ABSOLUTE ACTION ADD AFTER AGENT AGGREGATE ALL ALLOCATE ALTER ANALYZE AND ANY \
ARCHIVE ARE ARRAY AS ASC ASCII ASENSITIVE ASSERTION ASYMMETRIC AT ATOMIC ATTACH ATTRIBUTE AUTH AUTHORIZATION \
AUTHORIZE AUTO AVG BACK BACKUP BASE BATCH BEFORE BEGIN BETWEEN BIGINT BINARY BIT BLOB BLOCK BOOLEAN BOTH \
BREADTH BUCKET BULK BY BYTE CALL CALLED CALLING CAPACITY CASCADE CASCADED CASE CAST CATALOG CHAR CHARACTER \
CHECK CLASS CLOB CLOSE CLUSTER CLUSTERED CLUSTERING CLUSTERS COALESCE COLLATE COLLATION COLLECTION COLUMN \
COLUMNS COMBINE COMMENT COMMIT COMPACT COMPILE COMPRESS CONDITION CONFLICT CONNECT CONNECTION CONSISTENCY \
CONSISTENT CONSTRAINT CONSTRAINTS CONSTRUCTOR CONSUMED CONTINUE CONVERT COPY CORRESPONDING COUNT COUNTER \
CREATE CROSS CUBE CURRENT CURSOR CYCLE DATA DATABASE DATE DATETIME DAY DEALLOCATE DEC DECIMAL DECLARE \
DEFAULT DEFERRABLE DEFERRED DEFINE DEFINED DEFINITION DELETE DELIMITED DEPTH DEREF DESC DESCRIBE DESCRIPTOR \
DETACH DETERMINISTIC DIAGNOSTICS DIRECTORIES DISABLE DISCONNECT DISTINCT DISTRIBUTE DO DOMAIN DOUBLE DROP \
DUMP DURATION DYNAMIC EACH ELEMENT ELSE ELSEIF EMPTY ENABLE END EQUAL EQUALS ERROR ESCAPE ESCAPED EVAL \
EVALUATE EXCEEDED EXCEPT EXCEPTION EXCEPTIONS EXCLUSIVE EXEC EXECUTE EXISTS EXIT EXPLAIN EXPLODE EXPORT \
EXPRESSION EXTENDED EXTERNAL EXTRACT FAIL FALSE FAMILY FETCH FIELDS FILE FILTER FILTERING FINAL FINISH FIRST \
FIXED FLATTERN FLOAT FOR FORCE FOREIGN FORMAT FORWARD FOUND FREE FROM FULL FUNCTION FUNCTIONS GENERAL \
GENERATE GET GLOB GLOBAL GO GOTO GRANT GREATER GROUP GROUPING HANDLER HASH HAVE HAVING HEAP HIDDEN HOLD HOUR \
IDENTIFIED IDENTITY IF IGNORE IMMEDIATE IMPORT IN INCLUDING INCLUSIVE INCREMENT INCREMENTAL INDEX INDEXED \
INDEXES INDICATOR INFINITE INITIALLY INLINE INNER INNTER INOUT INPUT INSENSITIVE INSERT INSTEAD INT INTEGER \
INTERSECT INTERVAL INTO INVALIDATE IS ISOLATION ITEM ITEMS ITERATE JOIN KEY KEYS LAG LANGUAGE LARGE LAST \
LATERAL LEAD LEADING LEAVE LEFT LENGTH LESS LEVEL LIKE LIMIT LIMITED LINES LIST LOAD LOCAL LOCALTIME \
LOCALTIMESTAMP LOCATION LOCATOR LOCK LOCKS LOG LOGED LONG LOOP LOWER MAP MATCH MATERIALIZED MAX MAXLEN \
MEMBER MERGE METHOD METRICS MIN MINUS MINUTE MISSING MOD MODE MODIFIES MODIFY MODULE MONTH MULTI MULTISET \
NAME NAMES NATIONAL NATURAL NCHAR NCLOB NEW NEXT NO NONE NOT NULL NULLIF NUMBER NUMERIC OBJECT OF OFFLINE \
OFFSET OLD ON ONLINE ONLY OPAQUE OPEN OPERATOR OPTION OR ORDER ORDINALITY OTHER OTHERS OUT OUTER OUTPUT \
OVER OVERLAPS OVERRIDE OWNER PAD PARALLEL PARAMETER PARAMETERS PARTIAL PARTITION PARTITIONED PARTITIONS \
PATH PERCENT PERCENTILE PERMISSION PERMISSIONS PIPE PIPELINED PLAN POOL POSITION PRECISION PREPARE \
PRESERVE PRIMARY PRIOR PRIVATE PRIVILEGES PROCEDURE PROCESSED PROJECT PROJECTION PROPERTY PROVISIONING \
PUBLIC PUT QUERY QUIT QUORUM RAISE RANDOM RANGE RANK RAW READ READS REAL REBUILD RECORD RECURSIVE REDUCE \
REF REFERENCE REFERENCES REFERENCING REGEXP REGION REINDEX RELATIVE RELEASE REMAINDER RENAME REPEAT REPLACE \
REQUEST RESET RESIGNAL RESOURCE RESPONSE RESTORE RESTRICT RESULT RETURN RETURNING RETURNS REVERSE REVOKE \
RIGHT ROLE ROLES ROLLBACK ROLLUP ROUTINE ROW ROWS RULE RULES SAMPLE SATISFIES SAVE SAVEPOINT SCAN SCHEMA \
SCOPE SCROLL SEARCH SECOND SECTION SEGMENT SEGMENTS SELECT SELF SEMI SENSITIVE SEPARATE SEQUENCE \
SERIALIZABLE SESSION SET SETS SHARD SHARE SHARED SHORT SHOW SIGNAL SIMILAR SIZE SKEWED SMALLINT SNAPSHOT \
SOME SOURCE SPACE SPACES SPARSE SPECIFIC SPECIFICTYPE SPLIT SQL SQLCODE SQLERROR SQLEXCEPTION SQLSTATE \
SQLWARNING START STATE STATIC STATUS STORAGE STORE STORED STREAM STRING STRUCT STYLE SUB SUBMULTISET \
SUBPARTITION SUBSTRING SUBTYPE SUM SUPER SYMMETRIC SYNONYM SYSTEM TABLE TABLESAMPLE TEMP TEMPORARY \
TERMINATED TEXT THAN THEN THROUGHPUT TIME TIMESTAMP TIMEZONE TINYINT TO TOKEN TOTAL TOUCH TRAILING \
TRANSACTION TRANSFORM TRANSLATE TRANSLATION TREAT TRIGGER TRIM TRUE TRUNCATE TTL TUPLE TYPE UNDER UNDO \
UNION UNIQUE UNIT UNKNOWN UNLOGGED UNNEST UNPROCESSED UNSIGNED UNTIL UPDATE UPPER URL USAGE USE USER USERS \
USING UUID VACUUM VALUE VALUED VALUES VARCHAR VARIABLE VARIANCE VARINT VARYING VIEW VIEWS VIRTUAL VOID WAIT \
WHEN WHENEVER WHERE WHILE WINDOW WITH WITHIN WITHOUT WORK WRAPPED WRITE YEAR ZONE";

/// Whether `word` is one of DynamoDB's reserved words (case-insensitive).
pub fn is_reserved(word: &str) -> bool {
    RESERVED.split_ascii_whitespace().any(|w| w.eq_ignore_ascii_case(word))
}

/// The most operands `IN` takes.
const MAX_IN_OPERANDS: usize = 100;

// ----- the parser -----

struct Parser<'a, 'b> {
    src: &'a str,
    toks: Vec<Token>,
    pos: usize,
    kind: ExprKind,
    attrs: &'b mut Attrs,
}

impl<'a, 'b> Parser<'a, 'b> {
    fn new(src: &'a str, kind: ExprKind, attrs: &'b mut Attrs) -> Result<Self, String> {
        if src.trim().is_empty() {
            return Err(format!("Invalid {}: The expression can not be empty;", kind.param()));
        }
        let toks = tokenize(src).map_err(|(start, end)| {
            format!(
                "Invalid {}: Syntax error; token: \"{}\", near: \"{}\"",
                kind.param(),
                &src[start..end],
                near(src, start, end)
            )
        })?;
        Ok(Parser { src, toks, pos: 0, kind, attrs })
    }

    fn err(&self, detail: impl std::fmt::Display) -> String {
        format!("Invalid {}: {detail}", self.kind.param())
    }

    fn peek(&self) -> &Tok {
        &self.toks[self.pos.min(self.toks.len() - 1)].tok
    }

    fn peek_at(&self, n: usize) -> &Tok {
        &self.toks[(self.pos + n).min(self.toks.len() - 1)].tok
    }

    fn at_eof(&self) -> bool {
        *self.peek() == Tok::Eof
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Tok::Ident(w) if w.eq_ignore_ascii_case(kw))
    }

    fn is_sym(&self, s: &str) -> bool {
        matches!(self.peek(), Tok::Sym(x) if *x == s)
    }

    /// `Syntax error; token: "x", near: "a x b"` at the current token: the token, and the
    /// text from the token before it to the token after it.
    fn syntax_err(&self) -> String {
        let i = self.pos.min(self.toks.len() - 1);
        let t = &self.toks[i];
        let token = if t.tok == Tok::Eof { "<EOF>".to_string() } else { self.src[t.start..t.end].to_string() };
        let from = if i > 0 { self.toks[i - 1].start } else { t.start };
        let to = match self.toks.get(i + 1) {
            Some(n) if n.tok != Tok::Eof => n.end,
            _ => t.end,
        };
        self.err(format!("Syntax error; token: \"{token}\", near: \"{}\"", &self.src[from..to]))
    }

    fn expect_sym(&mut self, s: &str) -> Result<(), String> {
        if self.is_sym(s) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.syntax_err())
        }
    }

    fn expect_eof(&self) -> Result<(), String> {
        if self.at_eof() { Ok(()) } else { Err(self.syntax_err()) }
    }

    fn value(&mut self, placeholder: &str) -> Result<AttrValue, String> {
        match self.attrs.values.get(placeholder) {
            Some(v) => {
                let v = v.clone();
                self.attrs.used_values.insert(placeholder.to_string());
                Ok(v)
            }
            None => Err(self.err(format!(
                "An expression attribute value used in expression is not defined; attribute value: {placeholder}"
            ))),
        }
    }

    fn name(&mut self, placeholder: &str) -> Result<String, String> {
        match self.attrs.names.get(placeholder) {
            Some(n) => {
                let n = n.clone();
                self.attrs.used_names.insert(placeholder.to_string());
                Ok(n)
            }
            None => Err(self.err(format!(
                "An expression attribute name used in the document path is not defined; attribute name: {placeholder}"
            ))),
        }
    }

    // --- paths and operands ---

    fn path_name(&mut self) -> Result<String, String> {
        match self.peek().clone() {
            Tok::Ident(id) => {
                if is_structural(&id) {
                    return Err(self.syntax_err());
                }
                if is_reserved(&id) {
                    return Err(self.err(format!("Attribute name is a reserved keyword; reserved keyword: {id}")));
                }
                self.pos += 1;
                Ok(id)
            }
            Tok::Name(n) => {
                self.pos += 1;
                self.name(&n)
            }
            _ => Err(self.syntax_err()),
        }
    }

    fn path(&mut self) -> Result<Path, String> {
        let mut elems = vec![Elem::Attr(self.path_name()?)];
        loop {
            if self.is_sym(".") {
                self.pos += 1;
                elems.push(Elem::Attr(self.path_name()?));
            } else if self.is_sym("[") {
                self.pos += 1;
                let Tok::Int(n) = self.peek().clone() else { return Err(self.syntax_err()) };
                let index = n.parse::<usize>().map_err(|_| self.syntax_err())?;
                self.pos += 1;
                self.expect_sym("]")?;
                elems.push(Elem::Index(index));
            } else {
                return Ok(Path(elems));
            }
        }
    }

    fn is_call(&self, name: &str) -> bool {
        matches!(self.peek(), Tok::Ident(w) if w == name) && matches!(self.peek_at(1), Tok::Sym("("))
    }

    fn operand(&mut self) -> Result<Operand, String> {
        match self.peek().clone() {
            Tok::Value(v) => {
                self.pos += 1;
                Ok(Operand::Value(self.value(&v)?))
            }
            Tok::Ident(_) if self.is_call("size") => {
                self.pos += 2;
                let p = self.path()?;
                self.expect_sym(")")?;
                Ok(Operand::Size(p))
            }
            Tok::Ident(_) | Tok::Name(_) => Ok(Operand::Path(self.path()?)),
            _ => Err(self.syntax_err()),
        }
    }

    // --- conditions ---

    fn condition(&mut self) -> Result<Cond, String> {
        let mut left = self.and()?;
        while self.is_kw("OR") {
            self.pos += 1;
            let right = self.and()?;
            left = Cond::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Cond, String> {
        let mut left = self.not()?;
        while self.is_kw("AND") {
            self.pos += 1;
            let right = self.not()?;
            left = Cond::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Cond, String> {
        if self.is_kw("NOT") {
            self.pos += 1;
            return Ok(Cond::Not(Box::new(self.not()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Cond, String> {
        if self.is_sym("(") {
            self.pos += 1;
            let c = self.condition()?;
            self.expect_sym(")")?;
            return Ok(c);
        }
        if let Tok::Ident(name) = self.peek().clone()
            && name != "size"
            && !is_structural(&name)
            && matches!(self.peek_at(1), Tok::Sym("("))
        {
            return self.function(&name);
        }
        let left = self.operand()?;
        self.comparison(left)
    }

    fn check_ordered(&self, op: &str, operand: &Operand) -> Result<(), String> {
        match operand {
            Operand::Value(v) if !v.is_ordered() => Err(self.err(format!(
                "Incorrect operand type for operator or function; operator or function: {op}, operand type: {}",
                v.type_name()
            ))),
            _ => Ok(()),
        }
    }

    fn comparison(&mut self, left: Operand) -> Result<Cond, String> {
        let op = match self.peek() {
            Tok::Sym("=") => Some(CmpOp::Eq),
            Tok::Sym("<>") => Some(CmpOp::Ne),
            Tok::Sym("<") => Some(CmpOp::Lt),
            Tok::Sym("<=") => Some(CmpOp::Le),
            Tok::Sym(">") => Some(CmpOp::Gt),
            Tok::Sym(">=") => Some(CmpOp::Ge),
            _ => None,
        };
        if let Some(op) = op {
            self.pos += 1;
            let right = self.operand()?;
            if !matches!(op, CmpOp::Eq | CmpOp::Ne) {
                self.check_ordered(op.symbol(), &left)?;
                self.check_ordered(op.symbol(), &right)?;
            }
            return Ok(Cond::Cmp(op, left, right));
        }
        if self.is_kw("BETWEEN") {
            self.pos += 1;
            let lo = self.operand()?;
            if !self.is_kw("AND") {
                return Err(self.syntax_err());
            }
            self.pos += 1;
            let hi = self.operand()?;
            for o in [&left, &lo, &hi] {
                self.check_ordered("BETWEEN", o)?;
            }
            if let (Operand::Value(l), Operand::Value(h)) = (&lo, &hi)
                && l.compare(h) == Some(std::cmp::Ordering::Greater)
            {
                return Err(self.err(format!(
                    "The BETWEEN operator requires upper bound to be greater than or equal to lower bound; \
                     lower bound operand: AttributeValue: {{{}}}, upper bound operand: AttributeValue: {{{}}}",
                    brief(l),
                    brief(h)
                )));
            }
            return Ok(Cond::Between(left, lo, hi));
        }
        if self.is_kw("IN") {
            self.pos += 1;
            self.expect_sym("(")?;
            let mut list = vec![self.operand()?];
            while self.is_sym(",") {
                self.pos += 1;
                list.push(self.operand()?);
            }
            self.expect_sym(")")?;
            if list.len() > MAX_IN_OPERANDS {
                return Err(self.err(format!(
                    "The IN operator is provided with too many operands; number of operands: {}",
                    list.len()
                )));
            }
            return Ok(Cond::In(left, list));
        }
        Err(self.syntax_err())
    }

    fn function(&mut self, name: &str) -> Result<Cond, String> {
        const KNOWN: [&str; 5] =
            ["attribute_exists", "attribute_not_exists", "attribute_type", "begins_with", "contains"];
        if !KNOWN.contains(&name) {
            return Err(self.err(format!("Invalid function name; function: {name}")));
        }
        self.pos += 2;
        let mut args = vec![self.operand()?];
        while self.is_sym(",") {
            self.pos += 1;
            args.push(self.operand()?);
        }
        self.expect_sym(")")?;
        let want = if name.starts_with("attribute_") && name != "attribute_type" { 1 } else { 2 };
        if args.len() != want {
            return Err(self.err(format!(
                "Incorrect number of operands for operator or function; operator or function: {name}, number of operands: {}",
                args.len()
            )));
        }
        let mut args = args.into_iter();
        let first = args.next().unwrap_or(Operand::Value(AttrValue::Null));
        let Operand::Path(path) = first else {
            return Err(
                self.err(format!("Operator or function requires a document path; operator or function: {name}"))
            );
        };
        let second = args.next();
        Ok(match (name, second) {
            ("attribute_exists", _) => Cond::Exists(path),
            ("attribute_not_exists", _) => Cond::NotExists(path),
            ("attribute_type", Some(Operand::Value(AttrValue::S(t)))) => {
                const TYPES: [&str; 10] = ["S", "SS", "N", "NS", "B", "BS", "BOOL", "NULL", "L", "M"];
                if !TYPES.contains(&t.as_str()) {
                    return Err(self.err(format!(
                        "Invalid attribute type name found; type: {t}, valid types: {{ B,NULL,SS,BOOL,L,BS,N,NS,S,M }}"
                    )));
                }
                Cond::AttrType(path, t)
            }
            ("attribute_type", Some(Operand::Value(v))) => {
                return Err(self.err(format!(
                    "Incorrect operand type for operator or function; operator or function: attribute_type, operand type: {}",
                    v.type_name()
                )));
            }
            ("begins_with", Some(second)) => {
                if let Operand::Value(v) = &second
                    && !matches!(v, AttrValue::S(_) | AttrValue::B(_))
                {
                    return Err(self.err(format!(
                        "Incorrect operand type for operator or function; operator or function: begins_with, operand type: {}",
                        v.type_name()
                    )));
                }
                Cond::BeginsWith(Operand::Path(path), second)
            }
            ("contains", Some(second)) => Cond::Contains(Operand::Path(path), second),
            _ => return Err(self.syntax_err()),
        })
    }

    // --- updates ---

    fn set_value(&mut self) -> Result<SetValue, String> {
        let a = self.uoperand()?;
        if self.is_sym("+") {
            self.pos += 1;
            return Ok(SetValue::Plus(a, self.uoperand()?));
        }
        if self.is_sym("-") {
            self.pos += 1;
            return Ok(SetValue::Minus(a, self.uoperand()?));
        }
        Ok(SetValue::Single(a))
    }

    fn uoperand(&mut self) -> Result<UOperand, String> {
        match self.peek().clone() {
            Tok::Value(v) => {
                self.pos += 1;
                Ok(UOperand::Value(self.value(&v)?))
            }
            Tok::Ident(id) if matches!(self.peek_at(1), Tok::Sym("(")) => match id.as_str() {
                "if_not_exists" => {
                    self.pos += 2;
                    let path = self.path()?;
                    self.expect_sym(",")?;
                    let v = self.uoperand()?;
                    self.expect_sym(")")?;
                    Ok(UOperand::IfNotExists(path, Box::new(v)))
                }
                "list_append" => {
                    self.pos += 2;
                    let a = self.uoperand()?;
                    self.expect_sym(",")?;
                    let b = self.uoperand()?;
                    self.expect_sym(")")?;
                    Ok(UOperand::ListAppend(Box::new(a), Box::new(b)))
                }
                _ => Err(self.err(format!("Invalid function name; function: {id}"))),
            },
            Tok::Ident(_) | Tok::Name(_) => Ok(UOperand::Path(self.path()?)),
            _ => Err(self.syntax_err()),
        }
    }

    fn check_no_overlap<'p>(&self, paths: impl IntoIterator<Item = &'p Path>) -> Result<(), String> {
        let paths: Vec<&Path> = paths.into_iter().collect();
        for (i, a) in paths.iter().enumerate() {
            for b in &paths[i + 1..] {
                if a.overlaps(b) {
                    return Err(self.err(format!(
                        "Two document paths overlap with each other; must remove or rewrite one of these paths; \
                         path one: {}, path two: {}",
                        a.describe(),
                        b.describe()
                    )));
                }
            }
        }
        Ok(())
    }
}

/// The text around a span: the span with the words next to it.
fn near(src: &str, start: usize, end: usize) -> String {
    let before = src[..start].trim_end();
    let from = before.rfind(char::is_whitespace).map_or(0, |i| i + 1);
    let after = &src[end..];
    let to = end + after.find(char::is_whitespace).unwrap_or(after.len());
    src[from..to].to_string()
}

/// `N:5`, `S:abc`: how DynamoDB shows a value in a message.
fn brief(v: &AttrValue) -> String {
    match v {
        AttrValue::S(s) => format!("S:{s}"),
        AttrValue::N(n) => format!("N:{n}"),
        other => other.type_name().to_string(),
    }
}

// ----- entry points -----

/// Parses a condition, filter or key-condition expression.
pub fn parse_condition(src: &str, kind: ExprKind, attrs: &mut Attrs) -> Result<Cond, String> {
    let mut p = Parser::new(src, kind, attrs)?;
    let c = p.condition()?;
    p.expect_eof()?;
    Ok(c)
}

/// Parses an update expression.
pub fn parse_update(src: &str, attrs: &mut Attrs) -> Result<Update, String> {
    let mut p = Parser::new(src, ExprKind::Update, attrs)?;
    let mut u = Update::default();
    let mut seen = BTreeSet::new();
    while !p.at_eof() {
        let Tok::Ident(word) = p.peek().clone() else { return Err(p.syntax_err()) };
        let clause = word.to_ascii_uppercase();
        if !matches!(clause.as_str(), "SET" | "REMOVE" | "ADD" | "DELETE") {
            return Err(p.syntax_err());
        }
        if !seen.insert(clause.clone()) {
            return Err(p.err(format!("The \"{clause}\" section can only be used once in an update expression;")));
        }
        p.pos += 1;
        loop {
            match clause.as_str() {
                "SET" => {
                    let path = p.path()?;
                    p.expect_sym("=")?;
                    let v = p.set_value()?;
                    u.set.push((path, v));
                }
                "REMOVE" => {
                    let path = p.path()?;
                    u.remove.push(path);
                }
                _ => {
                    let path = p.path()?;
                    let Tok::Value(placeholder) = p.peek().clone() else { return Err(p.syntax_err()) };
                    p.pos += 1;
                    let v = p.value(&placeholder)?;
                    let ok = match clause.as_str() {
                        "ADD" => matches!(v, AttrValue::N(_) | AttrValue::Ss(_) | AttrValue::Ns(_) | AttrValue::Bs(_)),
                        _ => matches!(v, AttrValue::Ss(_) | AttrValue::Ns(_) | AttrValue::Bs(_)),
                    };
                    if !ok {
                        return Err(p.err(format!(
                            "Incorrect operand type for operator or function; operator: {clause}, operand type: {}",
                            v.type_name()
                        )));
                    }
                    if clause == "ADD" {
                        u.add.push((path, v));
                    } else {
                        u.delete.push((path, v));
                    }
                }
            }
            if p.is_sym(",") {
                p.pos += 1;
            } else {
                break;
            }
        }
    }
    p.check_no_overlap(u.paths())?;
    Ok(u)
}

/// Parses a projection expression.
pub fn parse_projection(src: &str, attrs: &mut Attrs) -> Result<Vec<Path>, String> {
    let mut p = Parser::new(src, ExprKind::Projection, attrs)?;
    let mut out = vec![p.path()?];
    while p.is_sym(",") {
        p.pos += 1;
        out.push(p.path()?);
    }
    p.expect_eof()?;
    p.check_no_overlap(out.iter())?;
    Ok(out)
}

// ----- evaluation -----

/// The value at `path` in `item`.
pub fn get<'a>(item: &'a Item, path: &Path) -> Option<&'a AttrValue> {
    let mut elems = path.0.iter();
    let Some(Elem::Attr(first)) = elems.next() else { return None };
    let mut cur = item.get(first)?;
    for e in elems {
        cur = match (e, cur) {
            (Elem::Attr(k), AttrValue::M(m)) => m.get(k)?,
            (Elem::Index(i), AttrValue::L(l)) => l.get(*i)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// `size(path)`: characters of a string, bytes of a binary, elements of a set, list or map.
fn size_of(v: &AttrValue) -> Option<i64> {
    let n = match v {
        AttrValue::S(s) => s.chars().count(),
        AttrValue::B(b) => b.len(),
        AttrValue::Ss(s) => s.len(),
        AttrValue::Ns(s) => s.len(),
        AttrValue::Bs(s) => s.len(),
        AttrValue::L(l) => l.len(),
        AttrValue::M(m) => m.len(),
        _ => return None,
    };
    Some(n as i64)
}

fn operand_value(op: &Operand, item: &Item) -> Option<AttrValue> {
    match op {
        Operand::Path(p) => get(item, p).cloned(),
        Operand::Value(v) => Some(v.clone()),
        Operand::Size(p) => get(item, p).and_then(size_of).map(|n| AttrValue::N(Number::from_i64(n))),
    }
}

/// Evaluates a condition against `item` (an absent item is the empty item). A missing
/// attribute makes every comparison false except `<>`, and comparisons between different
/// types are false, as in DynamoDB.
pub fn eval(cond: &Cond, item: &Item) -> bool {
    match cond {
        Cond::Cmp(op, a, b) => {
            let (x, y) = (operand_value(a, item), operand_value(b, item));
            match op {
                CmpOp::Eq => matches!((&x, &y), (Some(x), Some(y)) if x == y),
                CmpOp::Ne => !matches!((&x, &y), (Some(x), Some(y)) if x == y),
                _ => {
                    let (Some(x), Some(y)) = (x, y) else { return false };
                    x.compare(&y).is_some_and(|o| match op {
                        CmpOp::Lt => o.is_lt(),
                        CmpOp::Le => o.is_le(),
                        CmpOp::Gt => o.is_gt(),
                        _ => o.is_ge(),
                    })
                }
            }
        }
        Cond::Between(a, lo, hi) => {
            let (Some(x), Some(l), Some(h)) =
                (operand_value(a, item), operand_value(lo, item), operand_value(hi, item))
            else {
                return false;
            };
            x.compare(&l).is_some_and(|o| o.is_ge()) && x.compare(&h).is_some_and(|o| o.is_le())
        }
        Cond::In(a, list) => {
            let Some(x) = operand_value(a, item) else { return false };
            list.iter().any(|o| operand_value(o, item).as_ref() == Some(&x))
        }
        Cond::Exists(p) => get(item, p).is_some(),
        Cond::NotExists(p) => get(item, p).is_none(),
        Cond::BeginsWith(a, b) => match (operand_value(a, item), operand_value(b, item)) {
            (Some(AttrValue::S(x)), Some(AttrValue::S(y))) => x.starts_with(&y),
            (Some(AttrValue::B(x)), Some(AttrValue::B(y))) => x.starts_with(&y),
            _ => false,
        },
        Cond::Contains(a, b) => match (operand_value(a, item), operand_value(b, item)) {
            (Some(AttrValue::S(x)), Some(AttrValue::S(y))) => x.contains(&y),
            (Some(AttrValue::Ss(x)), Some(AttrValue::S(y))) => x.contains(&y),
            (Some(AttrValue::Ns(x)), Some(AttrValue::N(y))) => x.contains(&y),
            (Some(AttrValue::Bs(x)), Some(AttrValue::B(y))) => x.contains(&y),
            (Some(AttrValue::L(x)), Some(y)) => x.contains(&y),
            _ => false,
        },
        Cond::AttrType(p, t) => get(item, p).is_some_and(|v| v.type_name() == t.as_str()),
        Cond::And(a, b) => eval(a, item) && eval(b, item),
        Cond::Or(a, b) => eval(a, item) || eval(b, item),
        Cond::Not(a) => !eval(a, item),
    }
}

const BAD_OPERAND: &str = "An operand in the update expression has an incorrect data type";

fn eval_uoperand(op: &UOperand, item: &Item) -> Result<AttrValue, String> {
    match op {
        UOperand::Value(v) => Ok(v.clone()),
        UOperand::Path(p) => get(item, p).cloned().ok_or_else(|| {
            "The provided expression refers to an attribute that does not exist in the item".to_string()
        }),
        UOperand::IfNotExists(p, v) => match get(item, p) {
            Some(existing) => Ok(existing.clone()),
            None => eval_uoperand(v, item),
        },
        UOperand::ListAppend(a, b) => match (eval_uoperand(a, item)?, eval_uoperand(b, item)?) {
            (AttrValue::L(mut x), AttrValue::L(y)) => {
                x.extend(y);
                Ok(AttrValue::L(x))
            }
            _ => Err(BAD_OPERAND.to_string()),
        },
    }
}

fn eval_set_value(v: &SetValue, item: &Item) -> Result<AttrValue, String> {
    match v {
        SetValue::Single(a) => eval_uoperand(a, item),
        SetValue::Plus(a, b) | SetValue::Minus(a, b) => {
            let (AttrValue::N(x), AttrValue::N(y)) = (eval_uoperand(a, item)?, eval_uoperand(b, item)?) else {
                return Err(BAD_OPERAND.to_string());
            };
            let y = if matches!(v, SetValue::Minus(..)) { y.negated() } else { y };
            Ok(AttrValue::N(x.add(&y)?))
        }
    }
}

fn invalid_path() -> String {
    "The document path provided in the update expression is invalid for update".to_string()
}

fn set_path(item: &mut Item, path: &Path, v: AttrValue) -> Result<(), String> {
    let Some((Elem::Attr(name), rest)) = path.0.split_first() else { return Err(invalid_path()) };
    if rest.is_empty() {
        item.insert(name.clone(), v);
        return Ok(());
    }
    let mut cur = item.get_mut(name).ok_or_else(invalid_path)?;
    for (i, e) in rest.iter().enumerate() {
        let last = i + 1 == rest.len();
        match (e, cur) {
            (Elem::Attr(k), AttrValue::M(m)) => {
                if last {
                    m.insert(k.clone(), v);
                    return Ok(());
                }
                cur = m.get_mut(k).ok_or_else(invalid_path)?;
            }
            (Elem::Index(ix), AttrValue::L(l)) => {
                if last {
                    if *ix < l.len() {
                        l[*ix] = v;
                    } else {
                        l.push(v);
                    }
                    return Ok(());
                }
                cur = l.get_mut(*ix).ok_or_else(invalid_path)?;
            }
            _ => return Err(invalid_path()),
        }
    }
    Ok(())
}

fn remove_path(item: &mut Item, path: &Path) {
    let Some((Elem::Attr(name), rest)) = path.0.split_first() else { return };
    if rest.is_empty() {
        item.remove(name);
        return;
    }
    let Some(mut cur) = item.get_mut(name) else { return };
    for (i, e) in rest.iter().enumerate() {
        let last = i + 1 == rest.len();
        match (e, cur) {
            (Elem::Attr(k), AttrValue::M(m)) => {
                if last {
                    m.remove(k);
                    return;
                }
                let Some(next) = m.get_mut(k) else { return };
                cur = next;
            }
            (Elem::Index(ix), AttrValue::L(l)) => {
                if last {
                    if *ix < l.len() {
                        l.remove(*ix);
                    }
                    return;
                }
                let Some(next) = l.get_mut(*ix) else { return };
                cur = next;
            }
            _ => return,
        }
    }
}

fn union<T: Ord + Clone>(a: &[T], b: &[T]) -> Vec<T> {
    let mut out: Vec<T> = a.iter().chain(b.iter()).cloned().collect();
    out.sort();
    out.dedup();
    out
}

fn minus<T: Ord + Clone>(a: &[T], b: &[T]) -> Vec<T> {
    a.iter().filter(|x| !b.contains(x)).cloned().collect()
}

fn add_value(cur: Option<&AttrValue>, v: &AttrValue) -> Result<AttrValue, String> {
    Ok(match (cur, v) {
        (None, v) => v.clone(),
        (Some(AttrValue::N(a)), AttrValue::N(b)) => AttrValue::N(a.add(b)?),
        (Some(AttrValue::Ss(a)), AttrValue::Ss(b)) => AttrValue::Ss(union(a, b)),
        (Some(AttrValue::Ns(a)), AttrValue::Ns(b)) => AttrValue::Ns(union(a, b)),
        (Some(AttrValue::Bs(a)), AttrValue::Bs(b)) => AttrValue::Bs(union(a, b)),
        _ => return Err(BAD_OPERAND.to_string()),
    })
}

/// What is left of a set after `DELETE`; `None` when nothing is (the attribute goes).
fn delete_from(cur: &AttrValue, v: &AttrValue) -> Result<Option<AttrValue>, String> {
    let rest = match (cur, v) {
        (AttrValue::Ss(a), AttrValue::Ss(b)) => AttrValue::Ss(minus(a, b)),
        (AttrValue::Ns(a), AttrValue::Ns(b)) => AttrValue::Ns(minus(a, b)),
        (AttrValue::Bs(a), AttrValue::Bs(b)) => AttrValue::Bs(minus(a, b)),
        _ => return Err(BAD_OPERAND.to_string()),
    };
    let empty = match &rest {
        AttrValue::Ss(s) => s.is_empty(),
        AttrValue::Ns(s) => s.is_empty(),
        AttrValue::Bs(s) => s.is_empty(),
        _ => false,
    };
    Ok((!empty).then_some(rest))
}

/// Applies an update to `old` (every operand reads the item as it was before the update).
pub fn apply_update(old: &Item, u: &Update) -> Result<Item, String> {
    let mut new = old.clone();
    let mut sets = Vec::with_capacity(u.set.len());
    for (path, v) in &u.set {
        sets.push((path, eval_set_value(v, old)?));
    }
    for (path, v) in sets {
        set_path(&mut new, path, v)?;
    }
    // Later list indexes first, so that removing [0] does not shift [1] away.
    let mut removes: Vec<&Path> = u.remove.iter().collect();
    removes.sort_by(|a, b| b.cmp(a));
    for path in removes {
        remove_path(&mut new, path);
    }
    for (path, v) in &u.add {
        let sum = add_value(get(old, path), v)?;
        set_path(&mut new, path, sum)?;
    }
    for (path, v) in &u.delete {
        if let Some(cur) = get(old, path) {
            match delete_from(cur, v)? {
                Some(rest) => set_path(&mut new, path, rest)?,
                None => remove_path(&mut new, path),
            }
        }
    }
    Ok(new)
}

fn container_for(e: &Elem) -> AttrValue {
    match e {
        Elem::Attr(_) => AttrValue::M(BTreeMap::new()),
        Elem::Index(_) => AttrValue::L(Vec::new()),
    }
}

fn insert_projected(cur: &mut AttrValue, elems: &[Elem], v: AttrValue) {
    let Some((first, rest)) = elems.split_first() else { return };
    match (first, cur) {
        (Elem::Attr(k), AttrValue::M(m)) => match rest.first() {
            None => {
                m.insert(k.clone(), v);
            }
            Some(next) => {
                let child = m.entry(k.clone()).or_insert_with(|| container_for(next));
                insert_projected(child, rest, v);
            }
        },
        (Elem::Index(_), AttrValue::L(l)) => match rest.first() {
            None => l.push(v),
            Some(next) => {
                l.push(container_for(next));
                if let Some(child) = l.last_mut() {
                    insert_projected(child, rest, v);
                }
            }
        },
        _ => {}
    }
}

/// The attributes of `item` a projection names (nested paths keep their structure).
pub fn project(item: &Item, paths: &[Path]) -> Item {
    let mut out = AttrValue::M(BTreeMap::new());
    for p in paths {
        if let Some(v) = get(item, p) {
            insert_projected(&mut out, &p.0, v.clone());
        }
    }
    match out {
        AttrValue::M(m) => m,
        _ => Item::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> AttrValue {
        AttrValue::s(v)
    }

    fn n(v: &str) -> AttrValue {
        AttrValue::n(v).unwrap()
    }

    fn attrs(names: &[(&str, &str)], values: &[(&str, AttrValue)]) -> Attrs {
        Attrs::new(
            names.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            values.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
        )
    }

    fn item(pairs: &[(&str, AttrValue)]) -> Item {
        pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    fn cond(src: &str, a: &mut Attrs) -> Cond {
        parse_condition(src, ExprKind::Condition, a).unwrap_or_else(|e| panic!("{src}: {e}"))
    }

    #[test]
    fn existence_functions() {
        let mut a = attrs(&[], &[]);
        let c = cond("attribute_not_exists(pk)", &mut a);
        assert!(eval(&c, &Item::new()));
        assert!(!eval(&c, &item(&[("pk", s("x"))])));
        let c = cond("attribute_exists(pk)", &mut a);
        assert!(eval(&c, &item(&[("pk", s("x"))])));
        a.check_unused().unwrap();
    }

    #[test]
    fn comparisons_with_placeholders() {
        let mut a = attrs(&[("#s", "status"), ("#e", "expires_at")], &[(":pending", s("pending")), (":now", n("100"))]);
        let c = cond("#s = :pending AND #e > :now", &mut a);
        a.check_unused().unwrap();
        assert!(eval(&c, &item(&[("status", s("pending")), ("expires_at", n("101"))])));
        assert!(!eval(&c, &item(&[("status", s("pending")), ("expires_at", n("100"))])));
        assert!(!eval(&c, &item(&[("status", s("approved")), ("expires_at", n("200"))])));
        // Numbers compare as numbers, not as strings: "99" < "100".
        assert!(!eval(&c, &item(&[("status", s("pending")), ("expires_at", n("99"))])));
        assert!(eval(&c, &item(&[("status", s("pending")), ("expires_at", n("1000"))])));
    }

    #[test]
    fn every_comparator() {
        let mut a = attrs(&[], &[(":v", n("10"))]);
        let x = |v: &str| item(&[("a", n(v))]);
        for (src, nine, ten, eleven) in [
            ("a = :v", false, true, false),
            ("a <> :v", true, false, true),
            ("a < :v", true, false, false),
            ("a <= :v", true, true, false),
            ("a > :v", false, false, true),
            ("a >= :v", false, true, true),
        ] {
            let c = cond(src, &mut a);
            assert_eq!((eval(&c, &x("9")), eval(&c, &x("10.0")), eval(&c, &x("11"))), (nine, ten, eleven), "{src}");
        }
    }

    #[test]
    fn missing_attributes_and_mixed_types() {
        let mut a = attrs(&[], &[(":v", n("1"))]);
        assert!(!eval(&cond("a = :v", &mut a), &Item::new()));
        assert!(eval(&cond("a <> :v", &mut a), &Item::new()));
        assert!(!eval(&cond("a < :v", &mut a), &item(&[("a", s("0"))])));
        assert!(!eval(&cond("a = :v", &mut a), &item(&[("a", s("1"))])));
    }

    #[test]
    fn boolean_operators_and_precedence() {
        let mut a = attrs(&[], &[(":t", AttrValue::Bool(true))]);
        let t = item(&[("x", AttrValue::Bool(true)), ("y", AttrValue::Bool(true))]);
        let f = item(&[("x", AttrValue::Bool(true)), ("y", AttrValue::Bool(false))]);
        // AND binds tighter than OR; NOT tighter than AND.
        let c = cond("z = :t OR x = :t AND y = :t", &mut a);
        assert!(eval(&c, &t));
        assert!(!eval(&c, &f));
        let c = cond("(z = :t OR x = :t) AND NOT y = :t", &mut a);
        assert!(!eval(&c, &t));
        assert!(eval(&c, &f));
        let c = cond("NOT (x = :t) or y = :t", &mut a);
        assert!(eval(&c, &t));
        assert!(!eval(&c, &f));
    }

    #[test]
    fn between_in_and_functions() {
        let mut a = attrs(&[], &[(":lo", n("1")), (":hi", n("5")), (":p", s("ab")), (":x", s("b"))]);
        let i = item(&[("n", n("3")), ("s", s("abc")), ("set", AttrValue::ss(["a", "b"]))]);
        assert!(eval(&cond("n BETWEEN :lo AND :hi", &mut a), &i));
        assert!(eval(&cond("n IN (:lo, :hi) OR begins_with(s, :p)", &mut a), &i));
        assert!(eval(
            &cond("contains(s, :x) AND contains(#set, :x)", &mut attrs(&[("#set", "set")], &[(":x", s("b"))])),
            &i
        ));
        assert!(eval(&cond("size(s) BETWEEN :lo AND :hi", &mut a), &i));
        let mut t = attrs(&[("#set", "set")], &[(":t", s("SS"))]);
        assert!(eval(&cond("attribute_type(#set, :t)", &mut t), &i));
    }

    #[test]
    fn nested_paths() {
        let mut a = attrs(&[("#m", "map")], &[(":v", s("deep"))]);
        let i = item(&[("map", AttrValue::M(item(&[("l", AttrValue::L(vec![s("x"), s("deep")]))])))]);
        assert!(eval(&cond("#m.l[1] = :v", &mut a), &i));
        assert!(!eval(&cond("#m.l[2] = :v", &mut a), &i));
    }

    #[test]
    fn syntax_errors_name_the_token() {
        let mut a = attrs(&[], &[(":v", n("1"))]);
        let e = parse_condition("a = = :v", ExprKind::Condition, &mut a).unwrap_err();
        assert!(e.starts_with("Invalid ConditionExpression: Syntax error; token: \"=\", near: \"= = :v\""), "{e}");
        let e = parse_condition("a = :v AND", ExprKind::Condition, &mut a).unwrap_err();
        assert!(e.contains("token: \"<EOF>\""), "{e}");
        let e = parse_condition("a ! :v", ExprKind::Condition, &mut a).unwrap_err();
        assert!(e.contains("Syntax error; token: \"!\""), "{e}");
        let e = parse_condition("(a = :v", ExprKind::Filter, &mut a).unwrap_err();
        assert!(e.starts_with("Invalid FilterExpression: Syntax error"), "{e}");
        let e = parse_condition("  ", ExprKind::Condition, &mut a).unwrap_err();
        assert_eq!(e, "Invalid ConditionExpression: The expression can not be empty;");
    }

    #[test]
    fn placeholders_must_be_defined_and_used() {
        let mut a = attrs(&[], &[]);
        let e = parse_condition("#s = :v", ExprKind::Condition, &mut a).unwrap_err();
        assert!(e.contains("attribute name used in the document path is not defined; attribute name: #s"), "{e}");
        let mut a = attrs(&[("#s", "status")], &[]);
        let e = parse_condition("#s = :v", ExprKind::Condition, &mut a).unwrap_err();
        assert!(e.contains("attribute value used in expression is not defined; attribute value: :v"), "{e}");
        let mut a = attrs(&[("#s", "status"), ("#x", "x")], &[(":v", s("a")), (":w", s("b"))]);
        cond("#s = :v", &mut a);
        assert_eq!(
            a.check_unused().unwrap_err(),
            "Value provided in ExpressionAttributeValues unused in expressions: keys: {:w}"
        );
        let mut a = attrs(&[("#s", "status"), ("#x", "x")], &[(":v", s("a"))]);
        cond("#s = :v", &mut a);
        assert_eq!(
            a.check_unused().unwrap_err(),
            "Value provided in ExpressionAttributeNames unused in expressions: keys: {#x}"
        );
    }

    #[test]
    fn reserved_words_and_bad_functions() {
        let mut a = attrs(&[], &[(":v", s("a"))]);
        let e = parse_condition("status = :v", ExprKind::Condition, &mut a).unwrap_err();
        assert_eq!(e, "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: status");
        let e = parse_condition("exists_maybe(a)", ExprKind::Condition, &mut a).unwrap_err();
        assert!(e.contains("Invalid function name; function: exists_maybe"), "{e}");
        let e = parse_condition("attribute_exists(a, b)", ExprKind::Condition, &mut a).unwrap_err();
        assert!(e.contains("Incorrect number of operands"), "{e}");
        let e = parse_condition("attribute_exists(:v)", ExprKind::Condition, &mut a).unwrap_err();
        assert!(e.contains("requires a document path"), "{e}");
        let mut b = attrs(&[], &[(":b", AttrValue::Bool(true))]);
        let e = parse_condition("a < :b", ExprKind::Condition, &mut b).unwrap_err();
        assert!(
            e.contains("Incorrect operand type for operator or function; operator or function: <, operand type: BOOL"),
            "{e}"
        );
        assert!(is_reserved("TTL") && is_reserved("Name") && !is_reserved("pk") && !is_reserved("expires_at"));
    }

    #[test]
    fn set_and_remove() {
        let mut a = attrs(&[("#s", "status")], &[(":v", s("approved")), (":w", n("7"))]);
        let u = parse_update("SET #s = :v, decided_at = :w REMOVE lease", &mut a).unwrap();
        a.check_unused().unwrap();
        let old = item(&[("pk", s("r1")), ("status", s("pending")), ("lease", s("t"))]);
        let new = apply_update(&old, &u).unwrap();
        assert_eq!(new, item(&[("pk", s("r1")), ("status", s("approved")), ("decided_at", n("7"))]));
        assert_eq!(u.touched().into_iter().collect::<Vec<_>>(), ["decided_at", "lease", "status"]);
    }

    #[test]
    fn arithmetic_functions_add_and_delete() {
        let mut a = attrs(
            &[],
            &[(":one", n("1")), (":zero", n("0")), (":l", AttrValue::L(vec![s("z")])), (":ss", AttrValue::ss(["b"]))],
        );
        let u = parse_update(
            "SET version = if_not_exists(version, :zero) + :one, hist = list_append(hist, :l) ADD tags :ss, hits :one",
            &mut a,
        )
        .unwrap();
        let old = item(&[("hist", AttrValue::L(vec![s("y")])), ("tags", AttrValue::ss(["a"]))]);
        let new = apply_update(&old, &u).unwrap();
        assert_eq!(new["version"], n("1"));
        assert_eq!(new["hist"], AttrValue::L(vec![s("y"), s("z")]));
        assert_eq!(new["tags"], AttrValue::ss(["a", "b"]));
        assert_eq!(new["hits"], n("1"));
        let again = apply_update(&new, &u).unwrap();
        assert_eq!(again["version"], n("2"));

        let mut d = attrs(&[], &[(":ss", AttrValue::ss(["a", "b"]))]);
        let u = parse_update("DELETE tags :ss", &mut d).unwrap();
        assert!(!apply_update(&new, &u).unwrap().contains_key("tags"));
    }

    #[test]
    fn update_errors() {
        let mut a = attrs(&[], &[(":v", s("x"))]);
        let e = parse_update("SET a = :v SET b = :v", &mut a).unwrap_err();
        assert!(e.contains("The \"SET\" section can only be used once"), "{e}");
        let e = parse_update("SET a = :v, a = :v", &mut a).unwrap_err();
        assert!(e.contains("Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a]"), "{e}");
        let e = parse_update("SET a :v", &mut a).unwrap_err();
        assert!(e.starts_with("Invalid UpdateExpression: Syntax error; token: \":v\""), "{e}");
        let e = parse_update("ADD a :v", &mut a).unwrap_err();
        assert!(e.contains("Incorrect operand type"), "{e}");
        let u = parse_update("SET a = b", &mut a).unwrap();
        assert_eq!(
            apply_update(&Item::new(), &u).unwrap_err(),
            "The provided expression refers to an attribute that does not exist in the item"
        );
        let u = parse_update("SET a = :v + :v", &mut a).unwrap();
        assert_eq!(apply_update(&Item::new(), &u).unwrap_err(), BAD_OPERAND);
    }

    #[test]
    fn projections() {
        let mut a = attrs(&[("#m", "map")], &[]);
        let paths = parse_projection("pk, #m.leaf", &mut a).unwrap();
        let i = item(&[
            ("pk", s("1")),
            ("other", s("x")),
            ("map", AttrValue::M(item(&[("leaf", s("y")), ("no", s("z"))]))),
        ]);
        assert_eq!(project(&i, &paths), item(&[("pk", s("1")), ("map", AttrValue::M(item(&[("leaf", s("y"))])))]));
    }
}
