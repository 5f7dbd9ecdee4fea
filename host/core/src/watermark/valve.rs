//! Combining the watermarks of a task's input channels (Flink's `StatusWatermarkValve`).
//!
//! The input watermark is the minimum over the channels that are active and aligned. An idle
//! channel does not hold it back; a channel that becomes active again counts only once its
//! watermark has caught up with the input watermark. When every channel is idle, no channel
//! will advance, so the valve flushes: the watermark moves up to the largest of all channels'
//! (as Flink's valve does). A finished channel no longer counts.

use super::WatermarkStatus;
use super::{MAX_WATERMARK, MIN_WATERMARK};

#[derive(Clone, Copy)]
struct Channel {
    watermark: i64,
    idle: bool,
    aligned: bool,
    finished: bool,
}

/// What changed at the valve's output.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ValveOutput {
    /// A new, larger input watermark.
    pub watermark: Option<i64>,
    /// A new input status.
    pub status: Option<WatermarkStatus>,
}

/// A task's input watermark and status from those of its input channels (Flink's `StatusWatermarkValve`).
pub struct WatermarkValve {
    channels: Vec<Channel>,
    watermark: i64,
    status: WatermarkStatus,
}

impl WatermarkValve {
    /// A valve over `channels` input channels, each active with no watermark yet.
    pub fn new(channels: usize) -> Self {
        let channel = Channel { watermark: MIN_WATERMARK, idle: false, aligned: true, finished: false };
        WatermarkValve { channels: vec![channel; channels], watermark: MIN_WATERMARK, status: WatermarkStatus::Active }
    }

    /// The current input watermark.
    pub fn watermark(&self) -> i64 {
        self.watermark
    }

    /// A watermark arrived on `channel`; returns what changed at the output.
    pub fn on_watermark(&mut self, channel: usize, watermark: i64) -> ValveOutput {
        let c = &mut self.channels[channel];
        if watermark > c.watermark {
            c.watermark = watermark;
        }
        if !c.aligned && c.watermark >= self.watermark {
            c.aligned = true;
        }
        self.recompute()
    }

    /// `channel` went idle or active again; returns what changed at the output.
    pub fn on_status(&mut self, channel: usize, status: WatermarkStatus) -> ValveOutput {
        let current = self.watermark;
        let c = &mut self.channels[channel];
        match status {
            WatermarkStatus::Idle => c.idle = true,
            WatermarkStatus::Active => {
                if c.idle {
                    c.idle = false;
                    c.aligned = c.watermark >= current;
                }
            }
        }
        self.recompute()
    }

    /// The channel has ended.
    pub fn on_end(&mut self, channel: usize) -> ValveOutput {
        self.channels[channel].finished = true;
        self.recompute()
    }

    fn recompute(&mut self) -> ValveOutput {
        let mut out = ValveOutput::default();
        let live = self.channels.iter().filter(|c| !c.finished);
        let all_finished = live.clone().next().is_none();
        let active: Vec<&Channel> = live.filter(|c| !c.idle).collect();
        let status = if active.is_empty() && !all_finished { WatermarkStatus::Idle } else { WatermarkStatus::Active };
        if status != self.status {
            self.status = status;
            out.status = Some(status);
        }
        let candidate = if all_finished {
            Some(MAX_WATERMARK)
        } else if active.is_empty() {
            self.channels.iter().filter(|c| !c.finished).map(|c| c.watermark).max()
        } else {
            active.iter().filter(|c| c.aligned).map(|c| c.watermark).min()
        };
        if let Some(wm) = candidate
            && wm > self.watermark
        {
            self.watermark = wm;
            out.watermark = Some(wm);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimum_of_active_channels() {
        let mut v = WatermarkValve::new(2);
        assert_eq!(v.on_watermark(0, 10).watermark, None);
        assert_eq!(v.on_watermark(1, 5).watermark, Some(5));
        assert_eq!(v.on_watermark(1, 20).watermark, Some(10));
        // Channel 0 goes idle: channel 1 alone decides.
        assert_eq!(v.on_status(0, WatermarkStatus::Idle).watermark, Some(20));
        // Both idle: the input is idle.
        assert_eq!(v.on_status(1, WatermarkStatus::Idle).status, Some(WatermarkStatus::Idle));
        assert_eq!(v.watermark(), 20);
        // Channel 0 back, behind: not aligned until it catches up.
        let out = v.on_status(0, WatermarkStatus::Active);
        assert_eq!(out.status, Some(WatermarkStatus::Active));
        assert_eq!(out.watermark, None);
        assert_eq!(v.on_watermark(0, 15).watermark, None);
        assert_eq!(v.on_watermark(0, 25).watermark, Some(25));
        assert_eq!(v.watermark(), 25);
    }

    #[test]
    fn all_idle_flushes_to_the_largest_watermark() {
        let mut v = WatermarkValve::new(2);
        v.on_watermark(0, 90);
        v.on_watermark(1, 40);
        assert_eq!(v.watermark(), 40);
        // Channel 1 goes idle first: channel 0 decides; then channel 0 too, the same.
        assert_eq!(v.on_status(1, WatermarkStatus::Idle).watermark, Some(90));
        let mut v = WatermarkValve::new(2);
        v.on_watermark(0, 90);
        v.on_watermark(1, 40);
        // Channel 0 goes idle first (the min stays 40), then channel 1: flush to 90.
        assert_eq!(v.on_status(0, WatermarkStatus::Idle).watermark, None);
        let out = v.on_status(1, WatermarkStatus::Idle);
        assert_eq!(out, ValveOutput { watermark: Some(90), status: Some(WatermarkStatus::Idle) });
    }

    #[test]
    fn finished_inputs_release_the_watermark() {
        let mut v = WatermarkValve::new(2);
        v.on_watermark(0, 10);
        assert_eq!(v.on_end(1).watermark, Some(10));
        assert_eq!(v.on_end(0).watermark, Some(MAX_WATERMARK));
    }
}
