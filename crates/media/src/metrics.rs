//! Media's own metrics, beside the kit's (gRPC, jobs, bus): uploads by outcome and bytes, scan
//! latency and verdicts, the backlog of unscanned files and signed URLs handed out.

use std::{sync::LazyLock, time::Duration};

use df_common::telemetry::metrics;
use prometheus::{HistogramVec, IntCounterVec, IntGauge};

use crate::scanner::{ScanFailed, Verdict};

static UPLOADS: LazyLock<Option<IntCounterVec>> = LazyLock::new(|| {
    metrics::counter_vec(
        "df_media_uploads_total",
        "Uploads by outcome: accepted, or the code they were refused with.",
        &["outcome"],
    )
    .ok()
});

static UPLOAD_BYTES: LazyLock<Option<IntCounterVec>> = LazyLock::new(|| {
    metrics::counter_vec(
        "df_media_upload_bytes_total",
        "Bytes of accepted uploads, by kind.",
        &["kind"],
    )
    .ok()
});

static SCANS: LazyLock<Option<HistogramVec>> = LazyLock::new(|| {
    metrics::histogram_vec(
        "df_media_scan_seconds",
        "Malware scans by outcome: clean, infected or failed (scanner unreachable or erring).",
        &["outcome"],
        &[
            0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
        ],
    )
    .ok()
});

static BACKLOG: LazyLock<Option<IntGauge>> = LazyLock::new(|| {
    metrics::int_gauge(
        "df_media_scan_backlog",
        "Uploads waiting for a malware scan (scanning or scan_pending).",
    )
    .ok()
});

static DELIVERIES: LazyLock<Option<IntCounterVec>> = LazyLock::new(|| {
    metrics::counter_vec(
        "df_media_deliveries_total",
        "Signed URLs handed out, by variant.",
        &["variant"],
    )
    .ok()
});

/// An upload was stored.
pub fn upload_accepted(kind: &str, bytes: u64) {
    if let Some(uploads) = UPLOADS.as_ref() {
        uploads.with_label_values(&["accepted"]).inc();
    }
    if let Some(total) = UPLOAD_BYTES.as_ref() {
        total.with_label_values(&[kind]).inc_by(bytes);
    }
}

/// An upload was refused with `code`.
pub fn upload_refused(code: &str) {
    if let Some(uploads) = UPLOADS.as_ref() {
        uploads.with_label_values(&[code]).inc();
    }
}

/// A scan ended.
pub fn scanned(verdict: &Result<Verdict, ScanFailed>, took: Duration) {
    let outcome = match verdict {
        Ok(Verdict::Clean) => "clean",
        Ok(Verdict::Infected(_)) => "infected",
        Err(_) => "failed",
    };
    if let Some(scans) = SCANS.as_ref() {
        scans
            .with_label_values(&[outcome])
            .observe(took.as_secs_f64());
    }
}

/// The unscanned files now.
pub fn backlog(count: i64) {
    if let Some(backlog) = BACKLOG.as_ref() {
        backlog.set(count);
    }
}

/// A signed URL was handed out.
pub fn delivered(variant: &str) {
    if let Some(deliveries) = DELIVERIES.as_ref() {
        deliveries.with_label_values(&[variant]).inc();
    }
}

static DAMAGED: LazyLock<Option<prometheus::IntCounter>> = LazyLock::new(|| {
    metrics::counter(
        "df_media_integrity_damaged_total",
        "Stored files the integrity job found missing or not matching their checksum.",
    )
    .ok()
});

/// The integrity job found a damaged file.
pub fn integrity_damaged() {
    if let Some(damaged) = DAMAGED.as_ref() {
        damaged.inc();
    }
}

static FEED_CACHE: LazyLock<Option<IntCounterVec>> = LazyLock::new(|| {
    metrics::counter_vec(
        "df_media_feed_cache_total",
        "Feed cache lookups in Redis, by layer (home: a fan's whole home-feed answer; page: a \
         page of posts) and result: hit, miss, or error (Redis unreachable: computed afresh).",
        &["layer", "result"],
    )
    .ok()
});

static POSTERS: LazyLock<Option<IntCounterVec>> = LazyLock::new(|| {
    metrics::counter_vec(
        "df_media_posters_total",
        "Poster frames of clean videos, by result: made, or failed (the video publishes \
         without one).",
        &["result"],
    )
    .ok()
});

/// A video's poster frame ended with `result`.
pub fn poster(result: &str) {
    if let Some(posters) = POSTERS.as_ref() {
        posters.with_label_values(&[result]).inc();
    }
}

/// A feed page lookup ended with `result`.
pub fn feed_cache(result: &str) {
    if let Some(lookups) = FEED_CACHE.as_ref() {
        lookups.with_label_values(&["page", result]).inc();
    }
}

/// A home-feed answer lookup ended with `result`.
pub fn home_cache(result: &str) {
    if let Some(lookups) = FEED_CACHE.as_ref() {
        lookups.with_label_values(&["home", result]).inc();
    }
}
