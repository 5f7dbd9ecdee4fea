//! Barrier alignment: a task with several input channels snapshots only when the barrier has
//! arrived on all of them, and until then stops reading the channels whose barrier is in, so
//! that no record after the barrier enters the snapshot.

use super::Barrier;

/// The alignment in progress at one task.
#[derive(Default)]
pub struct Aligner {
    current: Option<Barrier>,
    /// Channels whose barrier has arrived.
    blocked: Vec<usize>,
    /// A newer barrier overtook an unfinished alignment: the channels blocked for the older
    /// one must be read again.
    abandoned: bool,
}

/// What a barrier's arrival means.
#[derive(Debug, PartialEq, Eq)]
pub enum Alignment {
    /// Wait for the barrier on other channels; stop reading `channel` meanwhile.
    Block(usize),
    /// The barrier is in on every channel: snapshot, forward it, and read everything again.
    Aligned(Barrier),
    /// The barrier of a checkpoint already overtaken by a newer one: read on.
    Stale,
}

impl Aligner {
    /// A barrier arrived on `channel`; `open` tells which channels have not ended.
    pub fn on_barrier(&mut self, channel: usize, barrier: Barrier, open: &[usize]) -> Alignment {
        match &self.current {
            Some(current) if current.id == barrier.id => {}
            Some(current) if current.id > barrier.id => return Alignment::Stale,
            current => {
                // A newer barrier overtakes an unfinished alignment: that checkpoint is lost
                // (the coordinator gave up on it), and its blocked channels open again.
                self.abandoned |= current.is_some() && !self.blocked.is_empty();
                self.current = Some(barrier);
                self.blocked.clear();
            }
        }
        if !self.blocked.contains(&channel) {
            self.blocked.push(channel);
        }
        self.check(open).unwrap_or(Alignment::Block(channel))
    }

    /// A channel ended: maybe the alignment is complete now.
    pub fn on_end(&mut self, open: &[usize]) -> Option<Alignment> {
        self.check(open)
    }

    fn check(&mut self, open: &[usize]) -> Option<Alignment> {
        let barrier = self.current.as_ref()?;
        if open.iter().all(|c| self.blocked.contains(c)) {
            let barrier = barrier.clone();
            self.current = None;
            self.blocked.clear();
            return Some(Alignment::Aligned(barrier));
        }
        None
    }

    /// True once after a newer barrier overtook an alignment: unblock every channel before
    /// acting on the new barrier's [`Alignment`].
    pub fn take_abandoned(&mut self) -> bool {
        std::mem::take(&mut self.abandoned)
    }

    /// Channels not to read now.
    pub fn blocked(&self) -> &[usize] {
        &self.blocked
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::BarrierKind;

    fn barrier(id: u64) -> Barrier {
        Barrier { id, kind: BarrierKind::Checkpoint, location: "/tmp".into(), format: Default::default() }
    }

    #[test]
    fn aligns_over_open_channels() {
        let mut a = Aligner::default();
        assert_eq!(a.on_barrier(0, barrier(1), &[0, 1, 2]), Alignment::Block(0));
        assert_eq!(a.blocked(), &[0]);
        assert_eq!(a.on_barrier(2, barrier(1), &[0, 1, 2]), Alignment::Block(2));
        // Channel 1 ends instead of delivering its barrier.
        assert_eq!(a.on_end(&[0, 2]), Some(Alignment::Aligned(barrier(1))));
        assert!(a.blocked().is_empty());
        assert_eq!(a.on_barrier(0, barrier(2), &[0]), Alignment::Aligned(barrier(2)));
    }

    #[test]
    fn a_newer_barrier_abandons_the_alignment_and_older_ones_are_stale() {
        let mut a = Aligner::default();
        assert_eq!(a.on_barrier(0, barrier(1), &[0, 1]), Alignment::Block(0));
        // Checkpoint 1 was given up; 2 arrives on channel 1 first.
        assert_eq!(a.on_barrier(1, barrier(2), &[0, 1]), Alignment::Block(1));
        assert!(a.take_abandoned(), "channel 0 must be read again");
        assert!(!a.take_abandoned());
        assert_eq!(a.on_barrier(1, barrier(1), &[0, 1]), Alignment::Stale);
        assert_eq!(a.on_barrier(0, barrier(2), &[0, 1]), Alignment::Aligned(barrier(2)));
    }
}
