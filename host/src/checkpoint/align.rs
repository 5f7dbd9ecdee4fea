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
}

/// What a barrier's arrival means.
#[derive(Debug, PartialEq, Eq)]
pub enum Alignment {
    /// Wait for the barrier on other channels; stop reading `channel` meanwhile.
    Block(usize),
    /// The barrier is in on every channel: snapshot, forward it, and read everything again.
    Aligned(Barrier),
}

impl Aligner {
    /// A barrier arrived on `channel`; `open` tells which channels have not ended.
    pub fn on_barrier(&mut self, channel: usize, barrier: Barrier, open: &[usize]) -> Alignment {
        match &self.current {
            Some(current) if current.id == barrier.id => {}
            Some(current) if current.id > barrier.id => return Alignment::Block(channel),
            _ => {
                // A newer barrier overtakes an unfinished alignment: that checkpoint is lost.
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
        Barrier { id, kind: BarrierKind::Checkpoint, location: "/tmp".into() }
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
}
