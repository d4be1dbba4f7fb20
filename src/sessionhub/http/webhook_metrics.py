"""``/metrics`` families of the webhook delivery worker, read from its counters at scrape time
(core.webhooks.DeliveryStats; nothing is counted on the request path).

``sessionhub_webhook_deliveries_total{outcome}`` (delivered, http_error, timeout, network_error,
refused), ``sessionhub_webhook_retries_total``, ``sessionhub_webhook_disabled_total`` (subscriptions
this process disabled after too many failures), ``sessionhub_webhook_subscriptions{state}`` (enabled,
disabled: as of the worker's last reload), ``sessionhub_webhook_attempt_duration_seconds``
(histogram). A process that does not deliver (``--no-webhook-delivery``) exports none of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from sessionhub.core.webhooks import LATENCY_BUCKETS, DeliveryStats


class WebhookCollector:
    def __init__(self, stats: Callable[[], DeliveryStats | None]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        stats = self._stats()
        if stats is None:
            return
        deliveries = CounterMetricFamily("sessionhub_webhook_deliveries", "Webhook delivery attempts, by outcome",
                                         labels=["outcome"])
        for outcome, count in stats.outcomes.items():
            deliveries.add_metric([outcome], count)
        yield deliveries
        yield CounterMetricFamily("sessionhub_webhook_retries", "Webhook attempts that retried a failed one",
                                  value=stats.retries)
        yield CounterMetricFamily("sessionhub_webhook_disabled", "Webhook subscriptions disabled after too many "
                                  "consecutive failures", value=stats.disabled_total)
        subs = GaugeMetricFamily("sessionhub_webhook_subscriptions", "Webhook subscriptions, by state",
                                 labels=["state"])
        subs.add_metric(["enabled"], stats.active)
        subs.add_metric(["disabled"], stats.disabled)
        yield subs
        latency = HistogramMetricFamily("sessionhub_webhook_attempt_duration_seconds", "Time from a webhook "
                                        "attempt's start (connect) to the receiver's status and body")
        total, buckets = 0, []
        for bound, n in zip((*map(str, LATENCY_BUCKETS), "+Inf"), stats.buckets, strict=True):
            total += n
            buckets.append((bound, float(total)))
        latency.add_metric([], buckets, stats.latency_sum)
        yield latency
