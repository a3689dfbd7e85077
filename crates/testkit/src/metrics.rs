//! Reading a running service's Prometheus metrics in a test, as an operator's scraper would.

/// The text the admin listener at `admin_url` serves at `/metrics`.
pub async fn scrape(admin_url: &str) -> String {
    reqwest::get(format!("{admin_url}/metrics"))
        .await
        .and_then(reqwest::Response::error_for_status)
        .unwrap_or_else(|e| panic!("scraping {admin_url}/metrics: {e}"))
        .text()
        .await
        .unwrap()
}

/// The value of the sample `series`, written as the exposition renders it (`name{labels}`), or
/// 0 when nothing has been counted under it yet.
pub fn value(metrics: &str, series: &str) -> u64 {
    sum(metrics, |name| name == series)
}

/// The sum of the samples of the metric `name` whose labels include every one of `labels`
/// (each `key="value"`).
pub fn sum_labelled(metrics: &str, name: &str, labels: &[&str]) -> u64 {
    sum(metrics, |series| {
        series
            .strip_prefix(name)
            .is_some_and(|rest| rest.starts_with('{') && labels.iter().all(|l| rest.contains(l)))
    })
}

fn sum(metrics: &str, wanted: impl Fn(&str) -> bool) -> u64 {
    metrics
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' '))
        .filter(|(series, _)| wanted(series))
        .filter_map(|(_, sample)| sample.parse::<u64>().ok())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    const METRICS: &str = "# HELP df_jobs_runs_total Job runs.\n\
        # TYPE df_jobs_runs_total counter\n\
        df_jobs_runs_total{kind=\"a\",outcome=\"done\"} 2\n\
        df_jobs_runs_total{kind=\"a\",outcome=\"failed\"} 1\n\
        df_jobs_runs_total{kind=\"b\",outcome=\"done\"} 5\n\
        df_jobs_runs_total_extra{kind=\"a\",outcome=\"done\"} 7\n";

    #[test]
    fn a_series_reads_as_its_sample_and_an_unseen_one_as_zero() {
        assert_eq!(
            value(METRICS, "df_jobs_runs_total{kind=\"a\",outcome=\"failed\"}"),
            1
        );
        assert_eq!(value(METRICS, "df_jobs_runs_total{kind=\"c\"}"), 0);
    }

    #[test]
    fn labelled_samples_of_one_metric_add_up() {
        assert_eq!(
            sum_labelled(METRICS, "df_jobs_runs_total", &["outcome=\"done\""]),
            7
        );
        assert_eq!(
            sum_labelled(
                METRICS,
                "df_jobs_runs_total",
                &["kind=\"a\"", "outcome=\"done\""]
            ),
            2
        );
    }
}
