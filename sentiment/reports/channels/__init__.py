"""Group robots beside mail: DingTalk (钉钉), WeCom (企业微信) and Feishu (飞书) channels.

- `platforms`: each platform's documented contract (signature, payload, size and rate limits, answers);
- `text`: untrusted text made plain for chat markdown (no links, no mentions, one short line);
- `render`: the chat templates (`reports/templates/chat_*.md`) fitted to the platform's size limit;
- `queue`: one outbox row per channel of an audience, beside its mail, under `<mail key>:chat:<channel>`;
- `ratelimit`: the requests each robot received, kept in the store, so every run respects its limits;
- `transport`: the HTTP client (httpx) that signs, posts and reads the platform's answer;
- `probe`: `sentiment channels test NAME`.

The outbox (`sentiment.reports.outbox`) delivers chat rows like mail: same states, leases, retries.
"""
