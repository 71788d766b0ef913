//! A prepared statement of our own whose text and blob values are bound
//! without copies (`SQLITE_STATIC`), one of the project's few `unsafe`
//! sites (each says why it is sound where it stands).
//!
//! rusqlite binds every text and blob as `SQLITE_TRANSIENT`: SQLite
//! allocates, copies and later frees each value, and a cached statement
//! going back to rusqlite's cache has every parameter cleared. For the
//! `record` rows (`rows.rs`) that was a third of the writer's instructions
//! once many rows share a statement (bench/README.md, seventh round). Here a
//! value is bound by pointer, and the borrow checker keeps it alive and
//! unchanged until the statement has run:
//!
//! - values are bound through a [`Binding`], which borrows them for its
//!   own lifetime `'a`; [`Binding::execute`] runs the statement and
//!   resets it before the binding (and so the borrow) ends;
//! - a statement runs only by `execute`, and only when every parameter
//!   was bound by that same binding, in order: no pointer left from an
//!   earlier binding (whose values may be gone) is ever read. A binding
//!   may leave a parameter as the last run left it when that run bound
//!   the same integer, NULL or `'static` text ([`Binding::word`]), or
//!   the same text into the statement's own copy
//!   ([`Binding::text_copied`]): SQLite keeps a statement's bindings
//!   across its reset, and those values need nothing the caller keeps
//!   alive (a borrowed text or blob is always bound anew). A record's
//!   disposition, policy results and domains, often the same as the
//!   row's 32 records before, then cost no bind (bench/README.md, ninth round);
//! - a statement must be finalized before its connection closes. That is
//!   the one rule the types do not enforce, so [`RawStatement::prepare`]
//!   is `unsafe`; the callers keep their statements in [`AuthSets`]
//!   (`super`), which `Lite` declares before its connection (fields are
//!   dropped in order) and `rebuild.rs` creates after its transaction.

use std::ffi::{c_int, CStr};
use std::marker::PhantomData;
use std::ptr::NonNull;

use rusqlite::{ffi, Connection};

/// A statement prepared on a connection, finalized when dropped.
pub(super) struct RawStatement {
    db: *mut ffi::sqlite3,
    stmt: NonNull<ffi::sqlite3_stmt>,
    params: c_int,
    /// What each parameter holds from the last run, by parameter (from 0):
    /// a value that SQLite may keep using, as it keeps every binding
    /// across `sqlite3_reset` (its documentation: "does not change the
    /// values of any bindings"), so binding it again is skipped
    /// ([`Kept`]).
    kept: Box<[Kept]>,
    /// The statement's own copies of texts bound by
    /// [`Binding::text_copied`], by parameter; dropped after the statement
    /// is finalized (fields drop after `drop`).
    copies: Box<[String]>,
}

/// A parameter's value kept from an earlier run that needs no new bind:
/// one SQLite copied (an integer, NULL) or a `'static` text, whose
/// pointer stays valid. A text or blob borrowed for one run is
/// `Unknown` after it: it is always bound again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kept {
    Unknown,
    Null,
    Int(i64),
    /// A `'static` text, by address and length.
    Static(usize, usize),
    /// The text in the statement's copy for this parameter (`copies`).
    Copied,
}

// SAFETY: SQLite is built thread-safe (rusqlite's bundled build,
// SQLITE_THREADSAFE=1), and a statement is only used through `&mut self`,
// by one thread at a time, like the connection it belongs to (which is
// `Send` in rusqlite and moves with it).
unsafe impl Send for RawStatement {}

impl RawStatement {
    /// Prepares `sql` (one statement) on `conn`.
    ///
    /// # Safety
    /// The statement must be dropped before `conn` is closed.
    pub(super) unsafe fn prepare(conn: &Connection, sql: &str) -> rusqlite::Result<Self> {
        let len = c_int::try_from(sql.len()).map_err(|_| {
            rusqlite::Error::SqliteFailure(ffi::Error::new(ffi::SQLITE_TOOBIG), None)
        })?;
        // SAFETY: the handle is the open connection's; `sql` is valid for
        // `len` bytes (SQLite reads no further, no NUL needed); `stmt` is
        // written by SQLite.
        let db = unsafe { conn.handle() };
        let mut stmt = std::ptr::null_mut();
        let rc = unsafe {
            ffi::sqlite3_prepare_v3(
                db,
                sql.as_ptr().cast(),
                len,
                ffi::SQLITE_PREPARE_PERSISTENT,
                &mut stmt,
                std::ptr::null_mut(),
            )
        };
        if rc != ffi::SQLITE_OK {
            // SAFETY: `db` is open.
            return Err(unsafe { error(db, rc) });
        }
        let Some(stmt) = NonNull::new(stmt) else {
            // Empty SQL (only a comment or spaces) prepares no statement.
            return Err(rusqlite::Error::InvalidQuery);
        };
        // SAFETY: `stmt` was just prepared.
        let params = unsafe { ffi::sqlite3_bind_parameter_count(stmt.as_ptr()) };
        let kept = vec![Kept::Unknown; params.max(0) as usize].into_boxed_slice();
        let copies = vec![String::new(); params.max(0) as usize].into_boxed_slice();
        Ok(RawStatement {
            db,
            stmt,
            params,
            kept,
            copies,
        })
    }

    /// How many parameters it has.
    #[cfg(test)]
    pub(super) fn params(&self) -> usize {
        self.params as usize
    }

    /// Starts binding values for one run of the statement.
    pub(super) fn bind<'a>(&mut self) -> Binding<'_, 'a> {
        Binding {
            st: self,
            next: 1,
            ran: false,
            _values: PhantomData,
        }
    }
}

impl Drop for RawStatement {
    fn drop(&mut self) {
        // SAFETY: prepared by us, finalized once, here; the connection is
        // still open (the contract of `prepare`).
        unsafe { ffi::sqlite3_finalize(self.stmt.as_ptr()) };
    }
}

/// The values of one run of a statement, bound in parameter order and
/// borrowed for `'a`.
pub(super) struct Binding<'s, 'a> {
    st: &'s mut RawStatement,
    /// The next parameter to bind (from 1).
    next: c_int,
    ran: bool,
    _values: PhantomData<&'a [u8]>,
}

impl<'a> Binding<'_, 'a> {
    /// The number of the next parameter, checked to exist.
    #[inline]
    fn param(&mut self) -> rusqlite::Result<c_int> {
        let i = self.next;
        if i > self.st.params {
            return Err(too_many(i, self.st.params));
        }
        self.next += 1;
        Ok(i)
    }

    #[inline]
    fn check(&self, rc: c_int) -> rusqlite::Result<()> {
        if rc == ffi::SQLITE_OK {
            Ok(())
        } else {
            // SAFETY: the connection is open while its statement lives.
            Err(unsafe { error(self.st.db, rc) })
        }
    }

    /// Whether parameter `i` holds `value` already; if not, it is marked
    /// unknown until the bind that follows succeeds ([`Binding::now`]).
    #[inline]
    fn holds(&mut self, i: c_int, value: Kept) -> bool {
        let slot = &mut self.st.kept[(i - 1) as usize];
        if *slot == value {
            return true;
        }
        *slot = Kept::Unknown;
        false
    }

    /// The result of binding `value` to parameter `i`.
    #[inline]
    fn now(&mut self, i: c_int, value: Kept, rc: c_int) -> rusqlite::Result<()> {
        self.check(rc)?;
        self.st.kept[(i - 1) as usize] = value;
        Ok(())
    }

    #[inline]
    pub(super) fn int(&mut self, v: i64) -> rusqlite::Result<()> {
        let i = self.param()?;
        if self.holds(i, Kept::Int(v)) {
            return Ok(());
        }
        // SAFETY: a live statement and an existing parameter.
        let rc = unsafe { ffi::sqlite3_bind_int64(self.st.stmt.as_ptr(), i, v) };
        self.now(i, Kept::Int(v), rc)
    }

    #[inline]
    pub(super) fn null(&mut self) -> rusqlite::Result<()> {
        let i = self.param()?;
        if self.holds(i, Kept::Null) {
            return Ok(());
        }
        // SAFETY: as in `int`.
        let rc = unsafe { ffi::sqlite3_bind_null(self.st.stmt.as_ptr(), i) };
        self.now(i, Kept::Null, rc)
    }

    /// `v`, a text that lives as long as the program, by pointer: kept
    /// bound from one run to the next while it is the same.
    #[inline]
    pub(super) fn word(&mut self, v: &'static str) -> rusqlite::Result<()> {
        let i = self.param()?;
        let value = Kept::Static(v.as_ptr() as usize, v.len());
        if self.holds(i, value) {
            return Ok(());
        }
        let len = c_int::try_from(v.len()).map_err(|_| too_big())?;
        // SAFETY: `v` is valid UTF-8 for `len` bytes for the rest of the
        // program, so SQLite may read it in any later run too.
        let rc = unsafe {
            ffi::sqlite3_bind_text(
                self.st.stmt.as_ptr(),
                i,
                v.as_ptr().cast(),
                len,
                ffi::SQLITE_STATIC(),
            )
        };
        self.now(i, value, rc)
    }

    /// `v` as text, by pointer to the statement's own copy of it: when
    /// the last run bound the same text here, nothing is copied or bound.
    /// For values that often repeat from one run to the next (a report's
    /// `header_from`); a copy and a compare more when they do not.
    #[inline]
    pub(super) fn text_copied(&mut self, v: &str) -> rusqlite::Result<()> {
        let i = self.param()?;
        let at = (i - 1) as usize;
        if self.st.kept[at] == Kept::Copied && self.st.copies[at] == v {
            return Ok(());
        }
        let len = c_int::try_from(v.len()).map_err(|_| too_big())?;
        // The copy may move as it is replaced: SQLite's pointer to it is
        // not read before the bind below (or, if that fails, before every
        // parameter is bound again: `Unknown`).
        self.st.kept[at] = Kept::Unknown;
        let copy = &mut self.st.copies[at];
        copy.clear();
        copy.push_str(v);
        // SAFETY: the copy is valid UTF-8 for `len` bytes and is neither
        // changed nor dropped while SQLite may read it: only here, right
        // before it is bound again, and after the statement is finalized.
        let rc = unsafe {
            ffi::sqlite3_bind_text(
                self.st.stmt.as_ptr(),
                i,
                copy.as_ptr().cast(),
                len,
                ffi::SQLITE_STATIC(),
            )
        };
        self.now(i, Kept::Copied, rc)
    }

    /// [`Binding::text_copied`] or NULL.
    #[inline]
    pub(super) fn opt_text_copied(&mut self, v: Option<&str>) -> rusqlite::Result<()> {
        match v {
            Some(v) => self.text_copied(v),
            None => self.null(),
        }
    }

    /// `v` as text, by pointer: it is borrowed until the run is over.
    #[inline]
    pub(super) fn text(&mut self, v: &'a str) -> rusqlite::Result<()> {
        let i = self.param()?;
        // Gone after this run: bound again next time.
        self.st.kept[(i - 1) as usize] = Kept::Unknown;
        let len = c_int::try_from(v.len()).map_err(|_| too_big())?;
        // SAFETY: `v` is valid UTF-8 for `len` bytes and, borrowed for
        // `'a`, outlives every step of this binding (`execute` resets the
        // statement before returning; no later step reads it, see the
        // module doc). A zero-length value's dangling pointer is not read.
        self.check(unsafe {
            ffi::sqlite3_bind_text(
                self.st.stmt.as_ptr(),
                i,
                v.as_ptr().cast(),
                len,
                ffi::SQLITE_STATIC(),
            )
        })
    }

    /// `v` as a blob, by pointer, as [`Binding::text`].
    #[inline]
    pub(super) fn blob(&mut self, v: &'a [u8]) -> rusqlite::Result<()> {
        let i = self.param()?;
        self.st.kept[(i - 1) as usize] = Kept::Unknown;
        let len = c_int::try_from(v.len()).map_err(|_| too_big())?;
        // SAFETY: as in `text`.
        self.check(unsafe {
            ffi::sqlite3_bind_blob(
                self.st.stmt.as_ptr(),
                i,
                v.as_ptr().cast(),
                len,
                ffi::SQLITE_STATIC(),
            )
        })
    }

    #[inline]
    pub(super) fn opt_text(&mut self, v: Option<&'a str>) -> rusqlite::Result<()> {
        match v {
            Some(v) => self.text(v),
            None => self.null(),
        }
    }

    /// Whether every parameter is bound (a statement runs only then).
    fn complete(&self) -> rusqlite::Result<()> {
        if self.next != self.st.params + 1 {
            return Err(rusqlite::Error::InvalidParameterCount(
                self.next as usize - 1,
                self.st.params as usize,
            ));
        }
        Ok(())
    }

    /// Runs the statement (one that returns no rows) once every parameter
    /// is bound; returns the rows it changed.
    pub(super) fn execute(mut self) -> rusqlite::Result<usize> {
        self.complete()?;
        self.ran = true;
        let stmt = self.st.stmt.as_ptr();
        // SAFETY: every parameter is bound to a value borrowed for `'a`,
        // alive during these calls; the reset (in `drop`) follows.
        let rc = unsafe { ffi::sqlite3_step(stmt) };
        match rc {
            ffi::SQLITE_DONE => {
                // SAFETY: the connection is open.
                let n = unsafe { ffi::sqlite3_changes64(self.st.db) };
                Ok(usize::try_from(n).unwrap_or(0))
            }
            ffi::SQLITE_ROW => Err(rusqlite::Error::ExecuteReturnedResults),
            // SAFETY: the connection is open.
            _ => Err(unsafe { error(self.st.db, rc) }),
        }
    }
}

impl Binding<'_, '_> {
    /// Runs a query once every parameter is bound: the first column of
    /// its first row as an integer, `None` without a row. The rest of the
    /// rows are not read (the reset ends the run).
    pub(super) fn query_i64(mut self) -> rusqlite::Result<Option<i64>> {
        self.complete()?;
        self.ran = true;
        let stmt = self.st.stmt.as_ptr();
        // SAFETY: as in `execute`.
        let rc = unsafe { ffi::sqlite3_step(stmt) };
        match rc {
            // SAFETY: a live statement that has a row; column 0 exists
            // when the column count says so.
            ffi::SQLITE_ROW if unsafe { ffi::sqlite3_column_count(stmt) } > 0 => {
                Ok(Some(unsafe { ffi::sqlite3_column_int64(stmt, 0) }))
            }
            ffi::SQLITE_ROW => Err(rusqlite::Error::InvalidColumnIndex(0)),
            ffi::SQLITE_DONE => Ok(None),
            // SAFETY: the connection is open.
            _ => Err(unsafe { error(self.st.db, rc) }),
        }
    }
}

impl Drop for Binding<'_, '_> {
    fn drop(&mut self) {
        let stmt = self.st.stmt.as_ptr();
        // SAFETY: a live statement. Reset ends the run (what the step read
        // is no longer referred to); a binding that did not run has its
        // values cleared, though none is read before all are bound again.
        unsafe {
            ffi::sqlite3_reset(stmt);
            if !self.ran {
                ffi::sqlite3_clear_bindings(stmt);
            }
        }
        if !self.ran {
            self.st.kept.fill(Kept::Unknown);
        }
    }
}

#[cold]
fn too_many(i: c_int, params: c_int) -> rusqlite::Error {
    rusqlite::Error::InvalidParameterCount(i as usize, params as usize)
}

#[cold]
fn too_big() -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(ffi::Error::new(ffi::SQLITE_TOOBIG), None)
}

/// The error of code `rc`, with the connection's message.
///
/// # Safety
/// `db` is an open connection.
#[cold]
unsafe fn error(db: *mut ffi::sqlite3, rc: c_int) -> rusqlite::Error {
    // SAFETY: the caller's; SQLite's message is a NUL-terminated string
    // valid until the next call on the connection, copied at once.
    let msg = unsafe { CStr::from_ptr(ffi::sqlite3_errmsg(db)) }
        .to_string_lossy()
        .into_owned();
    rusqlite::Error::SqliteFailure(ffi::Error::new(rc), Some(msg))
}

#[cfg(test)]
#[path = "raw_tests.rs"]
mod tests;
