//! The Operations Playground's Click Event Count job as a Weir component (version 1, the
//! playground's job). The logic lives in the `click-event-job` crate, shared with version 2.

weir_sdk::export_job!(click_event_job::ClickEventCount);
