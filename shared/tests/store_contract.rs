#![allow(clippy::unwrap_used)]
//! The record-store contract: every test is written once against `&dyn Store` and run on both
//! backends — `sqlite::*` on an embedded file, `dynamodb::*` on DynamoDB Local (endpoint from
//! `STUDIO_TEST_DYNAMODB_ENDPOINT`, set by `infra/scripts/test.sh`).

use std::sync::Arc;

use serde_json::json;
use shared::{
    clock::{Clock, ManualClock},
    store::{
        Condition, DynamoStore, IndexEntry, IndexKey, Item, Query, SqliteStore, Store, StoreError,
        TxOp, decode_page_token, encode_page_token, read_entries,
    },
};
use time::{Duration, OffsetDateTime};

const PK: &str = "T#tenant";

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(OffsetDateTime::now_utc()))
}

fn sqlite_store(clock: Arc<ManualClock>) -> (SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("store.db"), clock).unwrap();
    (store, dir)
}

async fn dynamo_store(clock: Arc<ManualClock>) -> DynamoStore {
    let endpoint = std::env::var("STUDIO_TEST_DYNAMODB_ENDPOINT").expect(
        "STUDIO_TEST_DYNAMODB_ENDPOINT is not set: run the suite with infra/scripts/test.sh, \
         which starts DynamoDB Local",
    );
    let aws = shared::config::aws_config_for_endpoint(&endpoint).await;
    let table = format!("contract-{}", uuid::Uuid::now_v7());
    let store = DynamoStore::from_sdk(&aws, table, clock);
    store.ensure_table().await.unwrap();
    store
}

/// Generates `sqlite::<test>` and `dynamodb::<test>` for every contract test.
macro_rules! contract_tests {
    ($($test:ident),+ $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $test() {
                let clock = super::clock();
                let (store, _dir) = super::sqlite_store(Arc::clone(&clock));
                super::$test(&store, &clock).await;
            })+
            use std::sync::Arc;
        }
        mod dynamodb {
            $(#[tokio::test]
            async fn $test() {
                let clock = super::clock();
                let store = super::dynamo_store(Arc::clone(&clock)).await;
                super::$test(&store, &clock).await;
            })+
            use std::sync::Arc;
        }
    };
}

contract_tests!(
    a_counter_counts_to_its_limit_and_no_further,
    a_created_item_reads_back_with_version_one_and_no_references,
    creating_an_existing_key_fails_and_keeps_the_first_item,
    an_update_with_the_current_version_bumps_it_and_replaces_the_data,
    a_stale_version_update_fails_and_changes_nothing,
    an_update_of_a_missing_item_fails_and_creates_nothing,
    an_update_keeps_the_reference_count,
    adjusting_references_increments_and_decrements_the_count,
    a_reference_decrement_below_zero_fails_and_changes_nothing,
    a_referenced_item_cannot_be_deleted_until_its_references_are_released,
    a_transaction_applies_all_of_its_operations,
    a_transaction_whose_later_condition_fails_writes_nothing_and_names_that_operation,
    an_empty_transaction_is_invalid,
    a_transaction_naming_one_key_twice_is_invalid_and_writes_nothing,
    check_operations_evaluate_every_condition,
    a_query_pages_through_a_prefix_in_sort_key_order,
    a_query_returning_exactly_limit_items_reports_no_further_page,
    a_query_lists_neither_other_prefixes_nor_other_partitions,
    an_expired_item_is_invisible_to_every_read,
    an_expired_item_counts_as_absent_for_conditions,
    the_index_lists_one_partition_up_to_a_bound_in_ascending_order,
    an_update_without_an_index_key_removes_the_item_from_the_index,
    an_index_entry_moves_only_from_where_it_is_and_keeps_the_version,
);

fn item(sk: &str, data: serde_json::Value) -> Item {
    Item::new(PK, sk, data.into())
}

/// The body of `item`, parsed.
fn body(item: &Item) -> serde_json::Value {
    item.data.read().expect("a JSON body")
}

fn index(pk: &str, sk: &str) -> IndexKey {
    IndexKey {
        pk: pk.to_owned(),
        sk: sk.to_owned(),
    }
}

fn sks(items: &[Item]) -> Vec<&str> {
    items.iter().map(|i| i.sk.as_str()).collect()
}

fn entry_sks(entries: &[IndexEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.sk.as_str()).collect()
}

async fn get(store: &dyn Store, sk: &str) -> Option<Item> {
    store.get(PK, sk).await.unwrap()
}

async fn create(store: &dyn Store, item: Item) {
    store.write(TxOp::Create(item)).await.unwrap();
}

fn update(item: Item, expected_version: u64) -> TxOp {
    TxOp::Update {
        item,
        expected_version,
    }
}

fn refs(sk: &str, delta: i64) -> TxOp {
    TxOp::AdjustRefs {
        pk: PK.to_owned(),
        sk: sk.to_owned(),
        delta,
    }
}

fn check(sk: &str, condition: Condition) -> TxOp {
    TxOp::Check {
        pk: PK.to_owned(),
        sk: sk.to_owned(),
        condition,
    }
}

fn delete(sk: &str, condition: Condition) -> TxOp {
    TxOp::Delete {
        pk: PK.to_owned(),
        sk: sk.to_owned(),
        condition,
    }
}

#[track_caller]
fn assert_condition_failed(result: Result<(), StoreError>, expected: usize) {
    match result {
        Err(StoreError::ConditionFailed { index }) => assert_eq!(index, expected),
        other => panic!("expected ConditionFailed {{ index: {expected} }}, got {other:?}"),
    }
}

#[track_caller]
fn assert_invalid(result: Result<(), StoreError>) {
    assert!(
        matches!(result, Err(StoreError::InvalidTransaction(_))),
        "expected InvalidTransaction, got {result:?}"
    );
}

async fn a_created_item_reads_back_with_version_one_and_no_references(
    store: &dyn Store,
    clock: &ManualClock,
) {
    let data =
        json!({"name": "café ☕", "n": 42, "list": [1, "two", null], "nested": {"ok": true}});
    let created = item("AUTH#1", data)
        .indexed(index("REFRESH#1", "0100#tenant#1"))
        .expiring_at(clock.epoch_seconds() + 3600);
    create(store, created.clone()).await;
    let read = get(store, "AUTH#1").await.unwrap();
    assert_eq!(read, created);
    assert_eq!((read.version, read.ref_count), (1, 0));
    assert_eq!(get(store, "AUTH#2").await, None);
    assert_eq!(store.get("T#other", "AUTH#1").await.unwrap(), None);
}

async fn creating_an_existing_key_fails_and_keeps_the_first_item(
    store: &dyn Store,
    _: &ManualClock,
) {
    create(store, item("AUTH#1", json!({"first": true}))).await;
    let again = store
        .write(TxOp::Create(item("AUTH#1", json!({"second": true}))))
        .await;
    assert_condition_failed(again, 0);
    assert_eq!(
        body(&get(store, "AUTH#1").await.unwrap()),
        json!({"first": true})
    );
}

async fn an_update_with_the_current_version_bumps_it_and_replaces_the_data(
    store: &dyn Store,
    clock: &ManualClock,
) {
    create(store, item("AUTH#1", json!({"v": 1}))).await;
    let expires = clock.epoch_seconds() + 60;
    let replacement = item("AUTH#1", json!({"v": 2}))
        .indexed(index("REFRESH#1", "0200"))
        .expiring_at(expires);
    store.write(update(replacement, 1)).await.unwrap();
    let read = get(store, "AUTH#1").await.unwrap();
    assert_eq!(read.version, 2);
    assert_eq!(body(&read), json!({"v": 2}));
    assert_eq!(read.index, Some(index("REFRESH#1", "0200")));
    assert_eq!(read.expires_at, Some(expires));

    store
        .write(update(item("AUTH#1", json!({"v": 3})), 2))
        .await
        .unwrap();
    let read = get(store, "AUTH#1").await.unwrap();
    assert_eq!((read.version, body(&read)), (3, json!({"v": 3})));
    assert_eq!((read.index, read.expires_at), (None, None));
}

async fn a_stale_version_update_fails_and_changes_nothing(store: &dyn Store, _: &ManualClock) {
    create(store, item("AUTH#1", json!({"v": 1}))).await;
    store
        .write(update(item("AUTH#1", json!({"v": 2})), 1))
        .await
        .unwrap();
    let before = get(store, "AUTH#1").await.unwrap();
    for stale in [1, 3] {
        let result = store
            .write(update(item("AUTH#1", json!({"stale": stale})), stale))
            .await;
        assert_condition_failed(result, 0);
    }
    assert_eq!(get(store, "AUTH#1").await.unwrap(), before);
}

async fn an_update_of_a_missing_item_fails_and_creates_nothing(store: &dyn Store, _: &ManualClock) {
    let result = store.write(update(item("AUTH#1", json!({})), 1)).await;
    assert_condition_failed(result, 0);
    assert_eq!(get(store, "AUTH#1").await, None);
}

async fn an_update_keeps_the_reference_count(store: &dyn Store, _: &ManualClock) {
    create(store, item("AUTH#1", json!({"v": 1}))).await;
    store.write(refs("AUTH#1", 2)).await.unwrap();
    store
        .write(update(item("AUTH#1", json!({"v": 2})), 1))
        .await
        .unwrap();
    let read = get(store, "AUTH#1").await.unwrap();
    assert_eq!((read.version, read.ref_count), (2, 2));
}

async fn adjusting_references_increments_and_decrements_the_count(
    store: &dyn Store,
    _: &ManualClock,
) {
    create(store, item("AUTH#1", json!({}))).await;
    for (delta, expected) in [(1, 1), (2, 3), (-1, 2), (-2, 0)] {
        store.write(refs("AUTH#1", delta)).await.unwrap();
        let read = get(store, "AUTH#1").await.unwrap();
        assert_eq!(read.ref_count, expected, "after {delta:+}");
        assert_eq!(read.version, 1, "references do not change the version");
    }
}

async fn a_reference_decrement_below_zero_fails_and_changes_nothing(
    store: &dyn Store,
    _: &ManualClock,
) {
    create(store, item("AUTH#1", json!({}))).await;
    assert_condition_failed(store.write(refs("AUTH#1", -1)).await, 0);
    store.write(refs("AUTH#1", 1)).await.unwrap();
    assert_condition_failed(store.write(refs("AUTH#1", -2)).await, 0);
    assert_eq!(get(store, "AUTH#1").await.unwrap().ref_count, 1);
    assert_condition_failed(store.write(refs("AUTH#missing", 1)).await, 0);
    assert_eq!(get(store, "AUTH#missing").await, None);
}

async fn a_referenced_item_cannot_be_deleted_until_its_references_are_released(
    store: &dyn Store,
    _: &ManualClock,
) {
    create(store, item("AUTH#1", json!({}))).await;
    store.write(refs("AUTH#1", 1)).await.unwrap();
    let result = store
        .write(delete("AUTH#1", Condition::VersionUnreferenced(1)))
        .await;
    assert_condition_failed(result, 0);
    assert!(get(store, "AUTH#1").await.is_some());

    store.write(refs("AUTH#1", -1)).await.unwrap();
    let wrong_version = store
        .write(delete("AUTH#1", Condition::VersionUnreferenced(2)))
        .await;
    assert_condition_failed(wrong_version, 0);
    store
        .write(delete("AUTH#1", Condition::VersionUnreferenced(1)))
        .await
        .unwrap();
    assert_eq!(get(store, "AUTH#1").await, None);
}

async fn a_transaction_applies_all_of_its_operations(store: &dyn Store, _: &ManualClock) {
    for sk in ["B", "C", "D"] {
        create(store, item(sk, json!({"sk": sk}))).await;
    }
    store
        .transact(vec![
            TxOp::Create(item("A", json!({"new": true}))),
            update(item("B", json!({"updated": true})), 1),
            delete("C", Condition::Exists),
            refs("D", 1),
            check("E", Condition::NotExists),
        ])
        .await
        .unwrap();
    assert_eq!(body(&get(store, "A").await.unwrap()), json!({"new": true}));
    assert_eq!(get(store, "B").await.unwrap().version, 2);
    assert_eq!(get(store, "C").await, None);
    assert_eq!(get(store, "D").await.unwrap().ref_count, 1);
    assert_eq!(get(store, "E").await, None);
}

async fn a_transaction_whose_later_condition_fails_writes_nothing_and_names_that_operation(
    store: &dyn Store,
    _: &ManualClock,
) {
    for sk in ["B", "C", "D"] {
        create(store, item(sk, json!({"sk": sk}))).await;
    }
    let before: Vec<_> = [
        get(store, "B").await,
        get(store, "C").await,
        get(store, "D").await,
    ]
    .into();
    let result = store
        .transact(vec![
            TxOp::Create(item("A", json!({}))),
            update(item("B", json!({"updated": true})), 1),
            delete("C", Condition::None),
            refs("D", 1),
            check("E", Condition::Exists),
        ])
        .await;
    assert_condition_failed(result, 4);
    assert_eq!(get(store, "A").await, None);
    let after: Vec<_> = [
        get(store, "B").await,
        get(store, "C").await,
        get(store, "D").await,
    ]
    .into();
    assert_eq!(after, before);
}

async fn an_empty_transaction_is_invalid(store: &dyn Store, _: &ManualClock) {
    assert_invalid(store.transact(Vec::new()).await);
}

async fn a_transaction_naming_one_key_twice_is_invalid_and_writes_nothing(
    store: &dyn Store,
    _: &ManualClock,
) {
    let result = store
        .transact(vec![
            TxOp::Create(item("A", json!({}))),
            TxOp::Create(item("B", json!({}))),
            check("A", Condition::None),
        ])
        .await;
    assert_invalid(result);
    assert_eq!((get(store, "A").await, get(store, "B").await), (None, None));
}

async fn check_operations_evaluate_every_condition(store: &dyn Store, _: &ManualClock) {
    create(store, item("A", json!({}))).await;
    store.write(update(item("A", json!({})), 1)).await.unwrap();
    store.write(refs("A", 1)).await.unwrap();
    // "A" is at version 2 with one reference; "M" does not exist.
    let cases = [
        ("A", Condition::None, true),
        ("M", Condition::None, true),
        ("A", Condition::Exists, true),
        ("M", Condition::Exists, false),
        ("A", Condition::NotExists, false),
        ("M", Condition::NotExists, true),
        ("A", Condition::Version(2), true),
        ("A", Condition::Version(1), false),
        ("M", Condition::Version(1), false),
        ("A", Condition::VersionUnreferenced(2), false),
        ("M", Condition::VersionUnreferenced(1), false),
    ];
    for (sk, condition, holds) in cases {
        let result = store.write(check(sk, condition)).await;
        if holds {
            assert!(result.is_ok(), "{condition:?} on {sk}: {result:?}");
        } else {
            assert!(
                matches!(result, Err(StoreError::ConditionFailed { index: 0 })),
                "{condition:?} on {sk}: {result:?}"
            );
        }
    }
    store.write(refs("A", -1)).await.unwrap();
    store
        .write(check("A", Condition::VersionUnreferenced(2)))
        .await
        .unwrap();
    assert_condition_failed(
        store
            .write(check("A", Condition::VersionUnreferenced(1)))
            .await,
        0,
    );
    // A check writes nothing.
    assert_eq!(get(store, "M").await, None);
    let a = get(store, "A").await.unwrap();
    assert_eq!((a.version, a.ref_count), (2, 0));
}

async fn a_query_pages_through_a_prefix_in_sort_key_order(store: &dyn Store, _: &ManualClock) {
    for n in [3, 1, 5, 2, 4] {
        create(store, item(&format!("ITEM#{n}"), json!({"n": n}))).await;
    }
    let mut pages = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let after = token.as_deref().map(|t| decode_page_token(t).unwrap());
        let page = store
            .query(Query::prefix(PK, "ITEM#").after(after.as_deref()).limit(2))
            .await
            .unwrap();
        assert_eq!(
            page.last_sk.as_deref(),
            page.items
                .last()
                .filter(|_| pages.len() < 2)
                .map(|i| i.sk.as_str()),
            "last_sk only when more items follow"
        );
        pages.push(sks(&page.items).join(","));
        match page.last_sk {
            Some(last) => token = Some(encode_page_token(&last)),
            None => break,
        }
    }
    assert_eq!(pages, ["ITEM#1,ITEM#2", "ITEM#3,ITEM#4", "ITEM#5"]);

    let page = store
        .query(Query::prefix(PK, "ITEM#").after(Some("ITEM#2")).limit(10))
        .await
        .unwrap();
    assert_eq!(sks(&page.items), ["ITEM#3", "ITEM#4", "ITEM#5"]);
    assert_eq!(body(&page.items[0]), json!({"n": 3}));
    assert_eq!(page.last_sk, None);
}

async fn a_query_returning_exactly_limit_items_reports_no_further_page(
    store: &dyn Store,
    _: &ManualClock,
) {
    for sk in ["ITEM#a", "ITEM#b"] {
        create(store, item(sk, json!({}))).await;
    }
    let page = store
        .query(Query::prefix(PK, "ITEM#").limit(2))
        .await
        .unwrap();
    assert_eq!(sks(&page.items), ["ITEM#a", "ITEM#b"]);
    assert_eq!(page.last_sk, None);
    let page = store
        .query(Query::prefix(PK, "ITEM#").after(Some("ITEM#a")).limit(1))
        .await
        .unwrap();
    assert_eq!((sks(&page.items), page.last_sk), (vec!["ITEM#b"], None));
    let page = store
        .query(Query::prefix(PK, "ITEM#").after(Some("ITEM#b")).limit(1))
        .await
        .unwrap();
    assert!(page.items.is_empty() && page.last_sk.is_none());
}

/// The index keys of partition `pk` up to `sk`.
/// The sort keys of the entries of index partition `pk` due up to `sk`, at most `limit`.
async fn due(store: &dyn Store, pk: &str, sk: &str, limit: usize) -> Vec<String> {
    let entries = store.query_index(&upto(pk, sk), limit).await.unwrap();
    entries.into_iter().map(|e| e.sk).collect()
}

/// An empty item `sk` with its index entry at `pk`, `at`.
fn entry(sk: &str, pk: &str, at: &str) -> Item {
    item(sk, json!({})).indexed(index(pk, at))
}

fn upto(pk: &str, sk: &str) -> IndexKey {
    IndexKey {
        pk: pk.into(),
        sk: sk.into(),
    }
}

async fn a_query_lists_neither_other_prefixes_nor_other_partitions(
    store: &dyn Store,
    _: &ManualClock,
) {
    for sk in ["AUTH#1", "ITEM", "ITEM#1", "ITEM#2", "ITEMS#1", "ZZZ#1"] {
        create(store, item(sk, json!({}))).await;
    }
    store
        .write(TxOp::Create(Item::new(
            "T#other",
            "ITEM#0",
            json!({}).into(),
        )))
        .await
        .unwrap();
    let page = store
        .query(Query::prefix(PK, "ITEM#").limit(10))
        .await
        .unwrap();
    assert_eq!(sks(&page.items), ["ITEM#1", "ITEM#2"]);
    assert!(page.items.iter().all(|i| i.pk == PK));
    let page = store
        .query(Query::prefix("T#nobody", "ITEM#").limit(10))
        .await
        .unwrap();
    assert!(page.items.is_empty() && page.last_sk.is_none());
    // No prefix: the whole partition, from any position (even one no item has).
    let all = store.query(Query::prefix(PK, "").limit(10)).await.unwrap();
    assert_eq!(all.items.len(), 6);
    let rest = store
        .query(Query::prefix(PK, "").after(Some("ITEM#15")).limit(10))
        .await
        .unwrap();
    assert_eq!(sks(&rest.items), ["ITEM#2", "ITEMS#1", "ZZZ#1"]);
}

async fn an_expired_item_is_invisible_to_every_read(store: &dyn Store, clock: &ManualClock) {
    let at = clock.epoch_seconds() + 10;
    create(
        store,
        item("ITEM#1", json!({}))
            .expiring_at(at)
            .indexed(index("REFRESH#1", "0001")),
    )
    .await;
    create(store, entry("ITEM#2", "REFRESH#1", "0002")).await;
    create(
        store,
        item("ITEM#3", json!({}))
            .expiring_at(at + 1)
            .indexed(index("REFRESH#1", "0003")),
    )
    .await;

    clock.advance(Duration::seconds(9));
    assert!(
        get(store, "ITEM#1").await.is_some(),
        "still live before expiry"
    );

    clock.advance(Duration::seconds(1)); // now == expires_at of ITEM#1
    assert_eq!(get(store, "ITEM#1").await, None);
    let page = store
        .query(Query::prefix(PK, "ITEM#").limit(10))
        .await
        .unwrap();
    assert_eq!(sks(&page.items), ["ITEM#2", "ITEM#3"]);
    let page = store
        .query(Query::prefix(PK, "ITEM#").limit(1))
        .await
        .unwrap();
    assert_eq!(
        (sks(&page.items), page.last_sk.as_deref()),
        (vec!["ITEM#2"], Some("ITEM#2"))
    );
    assert_eq!(
        due(store, "REFRESH#1", "9999", 10).await,
        ["ITEM#2", "ITEM#3"]
    );
    assert_eq!(due(store, "REFRESH#1", "9999", 1).await, ["ITEM#2"]);

    clock.advance(Duration::hours(1));
    let page = store
        .query(Query::prefix(PK, "ITEM#").limit(1))
        .await
        .unwrap();
    assert_eq!((sks(&page.items), page.last_sk), (vec!["ITEM#2"], None));
    assert_eq!(due(store, "REFRESH#1", "9999", 10).await, ["ITEM#2"]);
}

async fn an_expired_item_counts_as_absent_for_conditions(store: &dyn Store, clock: &ManualClock) {
    let at = clock.epoch_seconds() + 60;
    create(store, item("A", json!({"old": true})).expiring_at(at)).await;
    store.write(refs("A", 1)).await.unwrap();
    clock.advance(Duration::seconds(60));

    assert_condition_failed(store.write(check("A", Condition::Exists)).await, 0);
    store.write(check("A", Condition::NotExists)).await.unwrap();
    assert_condition_failed(store.write(check("A", Condition::Version(1))).await, 0);
    assert_condition_failed(store.write(delete("A", Condition::Exists)).await, 0);
    assert_condition_failed(store.write(update(item("A", json!({})), 1)).await, 0);
    assert_condition_failed(store.write(refs("A", -1)).await, 0);

    create(store, item("A", json!({"new": true}))).await;
    let read = get(store, "A").await.unwrap();
    assert_eq!(read, item("A", json!({"new": true})));
    assert_eq!(
        (read.version, read.ref_count, read.expires_at),
        (1, 0, None)
    );
}

async fn the_index_lists_one_partition_up_to_a_bound_in_ascending_order(
    store: &dyn Store,
    _: &ManualClock,
) {
    for (sk, gsk) in [
        ("C", "0003#c"),
        ("A", "0001#a"),
        ("D", "0005#d"),
        ("B", "0002#b"),
    ] {
        create(
            store,
            item(sk, json!({"sk": sk})).indexed(index("REFRESH#1", gsk)),
        )
        .await;
    }
    create(store, entry("Z", "REFRESH#2", "0001#z")).await;
    create(store, item("N", json!({}))).await;

    let found = store
        .query_index(&upto("REFRESH#1", "0003#~"), 10)
        .await
        .unwrap();
    assert_eq!(entry_sks(&found), ["A", "B", "C"]);
    assert_eq!(found[0].index, index("REFRESH#1", "0001#a"));
    assert_eq!(found[0].pk, PK);
    // The index holds keys only: the body is the item's, read from the store.
    let items = read_entries(store, found).await.unwrap();
    assert_eq!(body(&items[0]), json!({"sk": "A"}));
    assert_eq!(sks(&items), ["A", "B", "C"]);
    assert_eq!(due(store, "REFRESH#1", "0002#b", 10).await, ["A", "B"]);
    assert_eq!(due(store, "REFRESH#1", "9999", 2).await, ["A", "B"]);
    assert_eq!(
        due(store, "REFRESH#1", "9999", 10).await,
        ["A", "B", "C", "D"]
    );
    let none = store
        .query_index(&upto("REFRESH#1", "0000"), 10)
        .await
        .unwrap();
    assert!(none.is_empty());
    assert_eq!(due(store, "REFRESH#2", "9999", 10).await, ["Z"]);
}

async fn an_update_without_an_index_key_removes_the_item_from_the_index(
    store: &dyn Store,
    _: &ManualClock,
) {
    create(store, entry("A", "REFRESH#1", "0001")).await;
    create(store, entry("B", "REFRESH#1", "0002")).await;
    store
        .write(update(item("A", json!({"v": 2})), 1))
        .await
        .unwrap();
    assert_eq!(due(store, "REFRESH#1", "9999", 10).await, ["B"]);
    assert_eq!(get(store, "A").await.unwrap().index, None);

    store
        .write(update(
            item("A", json!({"v": 3})).indexed(index("REFRESH#2", "0003")),
            2,
        ))
        .await
        .unwrap();
    assert_eq!(due(store, "REFRESH#2", "9999", 10).await, ["A"]);
    assert_eq!(due(store, "REFRESH#1", "9999", 10).await, ["B"]);
}

async fn a_counter_counts_to_its_limit_and_no_further(store: &dyn Store, _: &ManualClock) {
    let count = |sk: &str| TxOp::Count {
        pk: "LIMIT#t#u".into(),
        sk: sk.into(),
        limit: 3,
        expires_at: 4_000_000_000,
    };
    for _ in 0..3 {
        store.write(count("W#1")).await.unwrap();
    }
    assert!(matches!(
        store.write(count("W#1")).await,
        Err(StoreError::ConditionFailed { index: 0 })
    ));
    assert!(matches!(
        store.write(count("W#1")).await,
        Err(StoreError::ConditionFailed { .. })
    ));
    // Another window (another key) counts on its own.
    store.write(count("W#2")).await.unwrap();
    let counter = store.get("LIMIT#t#u", "W#1").await.unwrap().unwrap();
    assert_eq!(counter.ref_count, 3);
    assert_eq!(counter.expires_at, Some(4_000_000_000));
}

async fn an_index_entry_moves_only_from_where_it_is_and_keeps_the_version(
    store: &dyn Store,
    _: &ManualClock,
) {
    create(
        store,
        item("A", json!({"v": 1})).indexed(index("REFRESH#1", "0001")),
    )
    .await;
    let move_to = |from: &str, to: &str| TxOp::MoveIndex {
        pk: PK.into(),
        sk: "A".into(),
        from: index("REFRESH#1", from),
        to: index("REFRESH#1", to),
    };
    store.write(move_to("0001", "0500")).await.unwrap();
    let found = get(store, "A").await.unwrap();
    assert_eq!(found.index, Some(index("REFRESH#1", "0500")));
    assert_eq!((found.version, body(&found)), (1, json!({"v": 1})));
    assert!(
        store
            .query_index(&upto("REFRESH#1", "0100"), 10)
            .await
            .unwrap()
            .is_empty()
    );
    // Not where it was said to be (another planner moved it first): nothing moves.
    let stale = store.write(move_to("0001", "0900")).await;
    assert!(
        matches!(stale, Err(StoreError::ConditionFailed { .. })),
        "{stale:?}"
    );
    assert_eq!(
        get(store, "A").await.unwrap().index,
        Some(index("REFRESH#1", "0500"))
    );
    // A writer that read version 1 still writes, and puts the entry where its record says.
    store
        .write(update(
            item("A", json!({"v": 2})).indexed(index("REFRESH#1", "0002")),
            1,
        ))
        .await
        .unwrap();
    assert_eq!(
        get(store, "A").await.unwrap().index,
        Some(index("REFRESH#1", "0002"))
    );
    // An item that is not there does not move.
    let missing = store
        .write(TxOp::MoveIndex {
            pk: PK.into(),
            sk: "B".into(),
            from: index("REFRESH#1", "0001"),
            to: index("REFRESH#1", "0002"),
        })
        .await;
    assert!(matches!(missing, Err(StoreError::ConditionFailed { .. })));
}
