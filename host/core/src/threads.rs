//! Full names of the process's named threads by kernel thread id, for thread dumps: the kernel
//! keeps only 15 bytes of a name (`ClickEvent Coun`), which would not tell two subtasks apart.

use std::collections::HashMap;
use std::sync::Mutex;

static NAMES: Mutex<Option<HashMap<i64, String>>> = Mutex::new(None);

/// Keeps the calling thread's full name listed until the returned guard drops.
pub struct Registered(i64);

impl Drop for Registered {
    fn drop(&mut self) {
        if let Some(names) = NAMES.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            names.remove(&self.0);
        }
    }
}

/// Lists the calling thread under its Rust name (if it has one) until the guard drops.
pub fn register_current() -> Registered {
    // SAFETY: gettid(2) has no preconditions.
    let tid = i64::from(unsafe { libc::gettid() });
    if let Some(name) = std::thread::current().name() {
        NAMES.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert_with(HashMap::new).insert(tid, name.to_string());
    }
    Registered(tid)
}

/// The registered threads' full names, by kernel thread id.
pub fn names() -> HashMap<i64, String> {
    NAMES.lock().unwrap_or_else(|e| e.into_inner()).clone().unwrap_or_default()
}
