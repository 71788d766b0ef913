//! The parsing threads' lookups ([`Lookup`]): a SQLite file's one lookup
//! is shared by every parsing thread, opened by the first to get there
//! (the other waits for it); a PostgreSQL lookup, a round trip to the
//! server, is a connection of each thread's own. A second SQLite lookup
//! read the schema again, mapped the file again (every page it read was
//! faulted in once per mapping) and unmapped it at its close, while a
//! lookup takes a few microseconds of a duplicate's ~15 (bench/README.md,
//! twelfth round).

use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use crate::extract::Payload;
use crate::model::ReportHeader;
use crate::store::{DbError, Known, Lookup, LookupOpener};

/// A lookup shared by the parsing threads, opened once.
#[derive(Default)]
pub(super) struct Shared {
    opener: Mutex<Option<LookupOpener>>,
    lookup: OnceLock<Option<Mutex<Lookup>>>,
}

/// How a parsing thread gets its lookup.
pub(super) enum Opener<'a> {
    Own(Option<LookupOpener>),
    Shared(&'a Shared),
}

/// A parsing thread's lookup.
pub(super) enum ThreadLookup<'a> {
    Own(Lookup),
    Shared(&'a Mutex<Lookup>),
}

impl Shared {
    /// The opener of a parsing thread: `opener`, shared when it can be
    /// (the first one offered is kept).
    pub(super) fn opener(&self, opener: Option<LookupOpener>) -> Opener<'_> {
        match opener {
            Some(opener) if opener.shareable() => {
                lock(&self.opener).get_or_insert(opener);
                Opener::Shared(self)
            }
            opener => Opener::Own(opener),
        }
    }
}

impl<'a> Opener<'a> {
    /// The lookup; `None` when it cannot be opened (then everything is
    /// parsed).
    pub(super) fn open(self) -> Option<ThreadLookup<'a>> {
        match self {
            Opener::Own(opener) => opener?.open().map(ThreadLookup::Own),
            Opener::Shared(shared) => {
                let lookup = shared.lookup.get_or_init(|| {
                    let opener = lock(&shared.opener).take();
                    opener?.open().map(Mutex::new)
                });
                lookup.as_ref().map(ThreadLookup::Shared)
            }
        }
    }
}

impl ThreadLookup<'_> {
    /// [`Lookup::known`].
    pub(super) fn known(&self, header: &ReportHeader, payload: &Payload) -> Result<Known, DbError> {
        match self {
            ThreadLookup::Own(lookup) => lookup.known(header, payload),
            ThreadLookup::Shared(lookup) => lock(lookup).known(header, payload),
        }
    }

    /// [`Lookup::same_bytes`].
    pub(super) fn same_bytes(&self, sha: &[u8; 32], data: &[u8]) -> Result<bool, DbError> {
        match self {
            ThreadLookup::Own(lookup) => lookup.same_bytes(sha, data),
            ThreadLookup::Shared(lookup) => lock(lookup).same_bytes(sha, data),
        }
    }

    /// [`Lookup::rest`].
    pub(super) fn rest(&self) {
        match self {
            ThreadLookup::Own(lookup) => lookup.rest(),
            ThreadLookup::Shared(lookup) => lock(lookup).rest(),
        }
    }
}

/// A lock whose holder panicked is still good: a lookup is only a hint.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::{Shared, ThreadLookup};
    use crate::store::Store;

    /// Two parsing threads offered a SQLite file's lookup both get the
    /// one connection, opened once; without an opener there is none.
    #[test]
    fn a_sqlite_files_lookup_is_opened_once_for_every_thread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.sqlite");
        // An existing file (one made here has nothing to look up).
        drop(Store::open(&path).unwrap());
        let store = Store::open(&path).unwrap();
        let shared = Shared::default();
        let openers = [
            shared.opener(store.lookup_opener()),
            shared.opener(store.lookup_opener()),
        ];
        let opened: Vec<_> = std::thread::scope(|scope| {
            let threads: Vec<_> = openers
                .into_iter()
                .map(|opener| scope.spawn(move || opener.open()))
                .collect();
            threads.into_iter().map(|t| t.join().unwrap()).collect()
        });
        match opened.as_slice() {
            [Some(ThreadLookup::Shared(a)), Some(ThreadLookup::Shared(b))] => {
                assert!(std::ptr::eq(*a, *b))
            }
            _ => panic!("not one shared lookup"),
        }
        assert!(Shared::default().opener(None).open().is_none());
    }
}
