//! The DynamoDB backend: one table, `PK`/`SK` string keys, the index of due work `Due` (keys
//! `GSI1PK`/`GSI1SK`; it projects the keys and `expires_at` only, so an index write costs a unit
//! whatever the item's size), the record body as a JSON string in `data`, and `expires_at` as the TTL
//! attribute (checked on every read and condition, because TTL deletion is lazy). A single-item
//! write is a conditional `PutItem`/`UpdateItem`/`DeleteItem`; several items that must change
//! together are one `TransactWriteItems` (which costs twice the write units), so conditions and
//! multi-item changes stay atomic.

use std::{collections::HashMap, time::Duration};

use async_trait::async_trait;
use aws_sdk_dynamodb::{
    Client,
    error::{DisplayErrorContext, SdkError},
    operation::{
        query::builders::QueryFluentBuilder, transact_write_items::TransactWriteItemsError,
    },
    types::{
        AttributeDefinition, AttributeValue, BillingMode, ConditionCheck,
        CreateGlobalSecondaryIndexAction, Delete, GlobalSecondaryIndex, GlobalSecondaryIndexUpdate,
        KeySchemaElement, KeyType, Projection, ProjectionType, Put, ScalarAttributeType,
        TimeToLiveSpecification, TransactWriteItem, Update,
    },
};
use std::sync::Arc;

use super::{
    Body, Condition, IndexEntry, IndexKey, Item, Query, QueryPage, Store, StoreError, TxOp,
    validate_transaction,
};
use crate::clock::Clock;

/// Name of the index of due work (keys and `expires_at` only).
pub const INDEX_NAME: &str = "Due";
const LIVE: &str = "(attribute_not_exists(#e) OR #e > :now)";
const CONFLICT_RETRIES: u32 = 3;

type Attrs = HashMap<String, AttributeValue>;

/// [`Store`] on a DynamoDB table (single-table design, DESIGN §3).
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for DynamoStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoStore")
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

fn unavailable<E: std::error::Error + 'static, R: std::fmt::Debug>(
    e: SdkError<E, R>,
) -> StoreError {
    StoreError::Unavailable(format!("dynamodb: {}", DisplayErrorContext(&e)))
}

fn build_error(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("dynamodb request: {e}"))
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn key(pk: &str, sk: &str) -> Attrs {
    HashMap::from([("PK".to_owned(), s(pk)), ("SK".to_owned(), s(sk))])
}

/// Expression names and values, tracked so only those used are sent (DynamoDB rejects unused ones).
#[derive(Default)]
struct Expr {
    names: HashMap<String, String>,
    values: Attrs,
}

impl Expr {
    fn name(&mut self, placeholder: &str, attribute: &str) -> &mut Self {
        self.names
            .insert(placeholder.to_owned(), attribute.to_owned());
        self
    }
    fn value(&mut self, placeholder: &str, value: AttributeValue) -> &mut Self {
        self.values.insert(placeholder.to_owned(), value);
        self
    }
    fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }
    fn values(&self) -> Option<Attrs> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }
}

/// The expression for `condition`, or `None` for [`Condition::None`].
fn condition_expr(condition: Condition, expr: &mut Expr, now: i64) -> Option<String> {
    let live = |expr: &mut Expr| {
        expr.name("#e", "expires_at").value(":now", n(now));
    };
    match condition {
        Condition::None => None,
        Condition::NotExists => {
            live(expr);
            Some("attribute_not_exists(PK) OR #e <= :now".to_owned())
        }
        Condition::Exists => {
            live(expr);
            Some(format!("attribute_exists(PK) AND {LIVE}"))
        }
        Condition::Version(v) => {
            live(expr);
            expr.name("#v", "version").value(":v", n(v));
            Some(format!("#v = :v AND {LIVE}"))
        }
        Condition::VersionUnreferenced(v) => {
            live(expr);
            expr.name("#v", "version")
                .name("#r", "ref_count")
                .value(":v", n(v))
                .value(":zero", n(0));
            Some(format!("#v = :v AND #r = :zero AND {LIVE}"))
        }
    }
}

fn item_to_attrs(item: &Item) -> Attrs {
    let mut attrs = key(&item.pk, &item.sk);
    attrs.insert("version".into(), n(1));
    attrs.insert("ref_count".into(), n(item.ref_count));
    attrs.insert("data".into(), s(item.data.as_str()));
    if let Some(index) = &item.index {
        attrs.insert("GSI1PK".into(), s(&index.pk));
        attrs.insert("GSI1SK".into(), s(&index.sk));
    }
    if let Some(at) = item.expires_at {
        attrs.insert("expires_at".into(), n(at));
    }
    attrs
}

/// An index entry as the index projects it.
fn attrs_to_entry(attrs: &Attrs) -> Result<IndexEntry, StoreError> {
    let get_s = |name: &str| {
        attrs
            .get(name)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .ok_or_else(|| StoreError::Corrupt(format!("dynamodb index entry: {name}")))
    };
    Ok(IndexEntry {
        pk: get_s("PK")?,
        sk: get_s("SK")?,
        index: IndexKey {
            pk: get_s("GSI1PK")?,
            sk: get_s("GSI1SK")?,
        },
    })
}

fn attrs_to_item(attrs: &Attrs) -> Result<Item, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("dynamodb item: {what}"));
    let get_s = |name: &str| attrs.get(name).and_then(|v| v.as_s().ok()).cloned();
    let get_n = |name: &str| -> Result<Option<i64>, StoreError> {
        attrs
            .get(name)
            .map(|v| {
                v.as_n()
                    .map_err(|_| corrupt(name))?
                    .parse::<i64>()
                    .map_err(|_| corrupt(name))
            })
            .transpose()
    };
    let pk = get_s("PK").ok_or_else(|| corrupt("PK"))?;
    let sk = get_s("SK").ok_or_else(|| corrupt("SK"))?;
    let data = get_s("data").ok_or_else(|| corrupt("data"))?;
    Ok(Item {
        data: Body::stored(data),
        version: u64::try_from(get_n("version")?.ok_or_else(|| corrupt("version"))?)
            .map_err(|_| corrupt("version"))?,
        ref_count: u64::try_from(get_n("ref_count")?.unwrap_or(0))
            .map_err(|_| corrupt("ref_count"))?,
        index: get_s("GSI1PK")
            .zip(get_s("GSI1SK"))
            .map(|(pk, sk)| IndexKey { pk, sk }),
        expires_at: get_n("expires_at")?,
        pk,
        sk,
    })
}

/// Finishes the builder of one transaction operation: the table, the expression's names and
/// values, and the build (`?` on a missing required field).
macro_rules! finish {
    ($builder:expr, $store:expr, $expr:expr) => {
        $builder
            .table_name(&$store.table)
            .set_expression_attribute_names($expr.names())
            .set_expression_attribute_values($expr.values())
            .build()
            .map_err(build_error)?
    };
}

impl DynamoStore {
    /// A store on `table` through `client`.
    pub fn new(client: Client, table: impl Into<String>, clock: Arc<dyn Clock>) -> Self {
        Self {
            client,
            table: table.into(),
            clock,
        }
    }

    /// A store on `table` with a client built from the shared AWS configuration.
    pub fn from_sdk(
        aws: &crate::config::AwsConfig,
        table: impl Into<String>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self::new(Client::new(aws), table, clock)
    }

    /// Creates the table with its keys, index of due work and TTL attribute if it does not exist,
    /// and adds the index to a table made before it (for the local stack and tests; in AWS the
    /// template creates both).
    pub async fn ensure_table(&self) -> Result<(), StoreError> {
        let exists = self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await;
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(build_error)
        };
        let key_el = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(build_error)
        };
        let gsi = GlobalSecondaryIndex::builder()
            .index_name(INDEX_NAME)
            .key_schema(key_el("GSI1PK", KeyType::Hash)?)
            .key_schema(key_el("GSI1SK", KeyType::Range)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::Include)
                    .non_key_attributes("expires_at")
                    .build(),
            )
            .build()
            .map_err(build_error)?;
        if let Ok(described) = exists {
            let has_index = described.table().is_some_and(|table| {
                table
                    .global_secondary_indexes()
                    .iter()
                    .any(|index| index.index_name() == Some(INDEX_NAME))
            });
            if !has_index {
                let create = CreateGlobalSecondaryIndexAction::builder()
                    .index_name(INDEX_NAME)
                    .set_key_schema(Some(gsi.key_schema().to_vec()))
                    .set_projection(gsi.projection().cloned())
                    .build()
                    .map_err(build_error)?;
                self.client
                    .update_table()
                    .table_name(&self.table)
                    .attribute_definitions(attr("GSI1PK")?)
                    .attribute_definitions(attr("GSI1SK")?)
                    .global_secondary_index_updates(
                        GlobalSecondaryIndexUpdate::builder().create(create).build(),
                    )
                    .send()
                    .await
                    .map_err(unavailable)?;
            }
            return Ok(());
        }
        self.client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr("PK")?)
            .attribute_definitions(attr("SK")?)
            .attribute_definitions(attr("GSI1PK")?)
            .attribute_definitions(attr("GSI1SK")?)
            .key_schema(key_el("PK", KeyType::Hash)?)
            .key_schema(key_el("SK", KeyType::Range)?)
            .global_secondary_indexes(gsi)
            .send()
            .await
            .map_err(unavailable)?;
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name("expires_at")
                    .enabled(true)
                    .build()
                    .map_err(build_error)?,
            )
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    fn transact_item(&self, op: &TxOp, now: i64) -> Result<TransactWriteItem, StoreError> {
        let mut expr = Expr::default();
        let item = match op {
            TxOp::Create(item) => {
                let cond = condition_expr(Condition::NotExists, &mut expr, now);
                let put = Put::builder()
                    .set_item(Some(item_to_attrs(item)))
                    .set_condition_expression(cond);
                TransactWriteItem::builder()
                    .put(finish!(put, self, expr))
                    .build()
            }
            TxOp::Update {
                item,
                expected_version,
            } => {
                let cond = condition_expr(Condition::Version(*expected_version), &mut expr, now);
                expr.name("#d", "data")
                    .value(":d", s(item.data.as_str()))
                    .value(":nv", n(expected_version + 1));
                let mut set = vec!["#d = :d", "#v = :nv"];
                let mut remove = Vec::new();
                if let Some(index) = &item.index {
                    expr.value(":g1", s(&index.pk)).value(":g2", s(&index.sk));
                    set.extend(["GSI1PK = :g1", "GSI1SK = :g2"]);
                } else {
                    remove.extend(["GSI1PK", "GSI1SK"]);
                }
                if let Some(at) = item.expires_at {
                    expr.value(":exp", n(at));
                    set.push("#e = :exp");
                } else {
                    remove.push("#e");
                }
                let mut update = format!("SET {}", set.join(", "));
                if !remove.is_empty() {
                    update.push_str(&format!(" REMOVE {}", remove.join(", ")));
                }
                self.update(&item.pk, &item.sk, update, cond, &expr)?
            }
            TxOp::Delete { pk, sk, condition } => {
                let cond = condition_expr(*condition, &mut expr, now);
                let delete = Delete::builder()
                    .set_key(Some(key(pk, sk)))
                    .set_condition_expression(cond);
                TransactWriteItem::builder()
                    .delete(finish!(delete, self, expr))
                    .build()
            }
            TxOp::Check { pk, sk, condition } => {
                // A ConditionCheck needs an expression; `Condition::None` checks nothing but must
                // still name the item, so it becomes an always-true expression.
                let cond = condition_expr(*condition, &mut expr, now).unwrap_or_else(|| {
                    "attribute_exists(PK) OR attribute_not_exists(PK)".to_owned()
                });
                let check = ConditionCheck::builder()
                    .set_key(Some(key(pk, sk)))
                    .condition_expression(cond);
                TransactWriteItem::builder()
                    .condition_check(finish!(check, self, expr))
                    .build()
            }
            TxOp::Count {
                pk,
                sk,
                limit,
                expires_at,
            } => {
                expr.name("#r", "ref_count")
                    .name("#e", "expires_at")
                    .name("#d", "data")
                    .name("#v", "version")
                    .value(":one", n(1))
                    .value(":limit", n(*limit))
                    .value(":exp", n(*expires_at))
                    .value(":empty", s(""));
                let update = "SET #e = :exp, #d = if_not_exists(#d, :empty), \
                              #v = if_not_exists(#v, :one) ADD #r :one";
                let cond = "attribute_not_exists(#r) OR #r < :limit".to_owned();
                self.update(pk, sk, update.to_owned(), Some(cond), &expr)?
            }
            TxOp::MoveIndex { pk, sk, from, to } => {
                let mut cond =
                    condition_expr(Condition::Exists, &mut expr, now).unwrap_or_default();
                expr.name("#gp", "GSI1PK")
                    .name("#gs", "GSI1SK")
                    .value(":fp", s(&from.pk))
                    .value(":fs", s(&from.sk))
                    .value(":tp", s(&to.pk))
                    .value(":ts", s(&to.sk));
                cond.push_str(" AND #gp = :fp AND #gs = :fs");
                let update = "SET #gp = :tp, #gs = :ts".to_owned();
                self.update(pk, sk, update, Some(cond), &expr)?
            }
            TxOp::AdjustRefs { pk, sk, delta } => {
                let mut cond =
                    condition_expr(Condition::Exists, &mut expr, now).unwrap_or_default();
                expr.name("#r", "ref_count").value(":delta", n(*delta));
                if *delta < 0 {
                    expr.value(":need", n(delta.unsigned_abs()));
                    cond.push_str(" AND #r >= :need");
                }
                self.update(pk, sk, "ADD #r :delta".to_owned(), Some(cond), &expr)?
            }
        };
        Ok(item)
    }

    /// Runs `request` page by page, skipping expired items, until `want` items or the end.
    async fn collect<T>(
        &self,
        request: QueryFluentBuilder,
        want: usize,
        read: fn(&Attrs) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let request = request
            .filter_expression("attribute_not_exists(#e) OR #e > :now")
            .expression_attribute_names("#e", "expires_at")
            .expression_attribute_values(":now", n(self.clock.epoch_seconds()));
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let mut page = request
                .clone()
                .limit(i32::try_from(want - items.len()).unwrap_or(i32::MAX));
            if start.is_some() {
                page = page.set_exclusive_start_key(start.take());
            }
            let out = page.send().await.map_err(unavailable)?;
            for attrs in out.items() {
                items.push(read(attrs)?);
            }
            match out.last_evaluated_key {
                Some(lek) if items.len() < want => start = Some(lek),
                _ => break,
            }
        }
        items.truncate(want);
        Ok(items)
    }

    /// A transactional update of the item `pk`/`sk` with `update`, conditional on `condition`.
    fn update(
        &self,
        pk: &str,
        sk: &str,
        update: String,
        condition: Option<String>,
        expr: &Expr,
    ) -> Result<TransactWriteItem, StoreError> {
        let builder = Update::builder()
            .set_key(Some(key(pk, sk)))
            .update_expression(update)
            .set_condition_expression(condition);
        Ok(TransactWriteItem::builder()
            .update(finish!(builder, self, expr))
            .build())
    }
}

/// Whether a single-item write failed its condition.
fn condition_failed<E>(err: &SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    err.as_service_error()
        .is_some_and(|e| e.code() == Some("ConditionalCheckFailedException"))
}

/// The outcome of a single-item write: its condition failing is operation 0's.
fn single<T, E>(
    result: Result<T, SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>>,
) -> Result<(), StoreError>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    match result {
        Ok(_) => Ok(()),
        Err(err) if condition_failed(&err) => Err(StoreError::ConditionFailed { index: 0 }),
        Err(err) => Err(unavailable(err)),
    }
}

#[async_trait]
impl Store for DynamoStore {
    /// One item: the plain conditional write (half the write units of a transaction).
    async fn write(&self, op: TxOp) -> Result<(), StoreError> {
        validate_transaction(std::slice::from_ref(&op))?;
        let item = self.transact_item(&op, self.clock.epoch_seconds())?;
        if let Some(put) = item.put {
            let request = self
                .client
                .put_item()
                .table_name(put.table_name)
                .set_item(Some(put.item))
                .set_condition_expression(put.condition_expression)
                .set_expression_attribute_names(put.expression_attribute_names)
                .set_expression_attribute_values(put.expression_attribute_values);
            return single(request.send().await);
        }
        if let Some(update) = item.update {
            let request = self
                .client
                .update_item()
                .table_name(update.table_name)
                .set_key(Some(update.key))
                .update_expression(update.update_expression)
                .set_condition_expression(update.condition_expression)
                .set_expression_attribute_names(update.expression_attribute_names)
                .set_expression_attribute_values(update.expression_attribute_values);
            return single(request.send().await);
        }
        if let Some(delete) = item.delete {
            let request = self
                .client
                .delete_item()
                .table_name(delete.table_name)
                .set_key(Some(delete.key))
                .set_condition_expression(delete.condition_expression)
                .set_expression_attribute_names(delete.expression_attribute_names)
                .set_expression_attribute_values(delete.expression_attribute_values);
            return single(request.send().await);
        }
        // A lone condition check writes nothing: it stays a (one-item) transaction.
        self.transact(vec![op]).await
    }

    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        let now = self.clock.epoch_seconds();
        match out.item {
            Some(attrs) => {
                let item = attrs_to_item(&attrs)?;
                Ok(item.expires_at.is_none_or(|at| at > now).then_some(item))
            }
            None => Ok(None),
        }
    }

    async fn query(&self, query: Query<'_>) -> Result<QueryPage, StoreError> {
        let limit = query.limit.max(1);
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .expression_attribute_values(":pk", s(query.pk))
            .set_exclusive_start_key(query.after.map(|sk| key(query.pk, sk)));
        // DynamoDB refuses `begins_with` on an empty string: no prefix, the whole partition.
        request = if query.prefix.is_empty() {
            request.key_condition_expression("PK = :pk")
        } else {
            request
                .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
                .expression_attribute_values(":prefix", s(query.prefix))
        };
        // One more than asked for says whether another page follows.
        let mut items = self.collect(request, limit + 1, attrs_to_item).await?;
        let more = items.len() > limit;
        items.truncate(limit);
        let last_sk = if more {
            items.last().map(|i| i.sk.clone())
        } else {
            None
        };
        Ok(QueryPage { items, last_sk })
    }

    async fn query_index(
        &self,
        upto: &IndexKey,
        limit: usize,
    ) -> Result<Vec<IndexEntry>, StoreError> {
        let request = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(INDEX_NAME)
            .key_condition_expression("GSI1PK = :g AND GSI1SK <= :upto")
            .expression_attribute_values(":g", s(&upto.pk))
            .expression_attribute_values(":upto", s(&upto.sk));
        self.collect(request, limit, attrs_to_entry).await
    }

    async fn transact(&self, ops: Vec<TxOp>) -> Result<(), StoreError> {
        validate_transaction(&ops)?;
        // One write needs no transaction (and costs half as much without one).
        if let [op] = ops.as_slice()
            && !matches!(op, TxOp::Check { .. })
        {
            return self.write(op.clone()).await;
        }
        let mut attempt = 0;
        loop {
            let now = self.clock.epoch_seconds();
            let items = ops
                .iter()
                .map(|op| self.transact_item(op, now))
                .collect::<Result<Vec<_>, _>>()?;
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items))
                .send()
                .await;
            let err = match result {
                Ok(_) => return Ok(()),
                Err(err) => err,
            };
            if let SdkError::ServiceError(service) = &err {
                if let TransactWriteItemsError::TransactionCanceledException(canceled) =
                    service.err()
                {
                    let reasons = canceled.cancellation_reasons();
                    if let Some(index) = reasons
                        .iter()
                        .position(|r| r.code() == Some("ConditionalCheckFailed"))
                    {
                        return Err(StoreError::ConditionFailed { index });
                    }
                    let conflict = reasons
                        .iter()
                        .any(|r| r.code() == Some("TransactionConflict"));
                    if conflict && attempt < CONFLICT_RETRIES {
                        attempt += 1;
                        tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt))).await;
                        continue;
                    }
                }
            }
            return Err(unavailable(err));
        }
    }
}
