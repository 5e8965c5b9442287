//! The only `unsafe` in this crate: the epoch-published slot array and zeroed, huge-page-advised allocation.
//!
//! 1. The AXB index publishes its open-addressing slot array through a pointer that writers swap when they grow
//!    or clean the index, while readers keep using the array they loaded. The old array must stay alive until
//!    no reader can hold it, which is what epoch-based reclamation (`crossbeam-epoch`) provides; its API hands
//!    out a `Shared` pointer whose dereference is `unsafe` by design. No safe library fits better: `arc-swap`
//!    would put a reference-count touch on every lookup, and `papaya`/`dashmap`-style maps allocate one entry
//!    per key, which blows the per-binding memory budget at ten million bindings.
//! 2. The big arrays (slots, records) are allocated zeroed (`calloc`: untouched pages cost no memory until used)
//!    and advised to use transparent huge pages (`madvise(MADV_HUGEPAGE)`): a lookup is two dependent random
//!    memory reads, and with 4 KiB pages each also misses the TLB (doubly expensive under virtualisation).
//!    Turning zeroed memory into atomics needs `alloc_zeroed` + `Box::from_raw`; std has no safe zeroed
//!    constructor for them at this MSRV.
//!
//! Every `unsafe` block carries its `SAFETY:` argument.
#![allow(unsafe_code)]

use std::alloc::{Layout, alloc_zeroed, handle_alloc_error};
use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_epoch::{self as epoch, Atomic, Owned};

/// Types whose all-zero bit pattern is a valid value.
///
/// # Safety
/// Implementors must be valid when every byte is zero.
unsafe trait ZeroValid: Sized {}

// SAFETY: `AtomicU64` has the same in-memory representation as `u64`, for which every bit pattern is valid.
unsafe impl ZeroValid for AtomicU64 {}
// SAFETY: an array of zero-valid elements is zero-valid.
unsafe impl<const N: usize> ZeroValid for [AtomicU64; N] {}

/// `len` zero values in fresh zeroed memory, advised to use huge pages.
fn zeroed<T: ZeroValid>(len: usize) -> Box<[T]> {
    let Ok(layout) = Layout::array::<T>(len) else {
        handle_alloc_error(Layout::new::<T>())
    };
    if layout.size() == 0 {
        return Box::default();
    }
    // SAFETY: `layout` has a non-zero size (checked above).
    let ptr = unsafe { alloc_zeroed(layout) }.cast::<T>();
    if ptr.is_null() {
        handle_alloc_error(layout);
    }
    advise_huge_pages(ptr as usize, layout.size());
    // SAFETY: `ptr` is a live allocation from the global allocator with the layout of `[T; len]`, so a `Box`
    // may own and later free it; its bytes are zero, which is a valid `T` (`T: ZeroValid`).
    unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, len)) }
}

/// `len` zero-valued atomic words in fresh memory advised to use huge pages.
pub(crate) fn zeroed_words(len: usize) -> Box<[AtomicU64]> {
    zeroed(len)
}

/// `len` groups of `N` zero-valued atomic words in fresh memory advised to use huge pages.
pub(crate) fn zeroed_groups<const N: usize>(len: usize) -> Box<[[AtomicU64; N]]> {
    zeroed(len)
}

/// Asks the kernel to back the whole pages inside `[start, start + len)` with transparent huge pages.
fn advise_huge_pages(start: usize, len: usize) {
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        const PAGE: usize = 4096;
        if len < HUGE {
            return;
        }
        let begin = start.next_multiple_of(PAGE);
        let end = (start + len) / PAGE * PAGE;
        if end > begin {
            // SAFETY: `MADV_HUGEPAGE` only changes how the kernel backs these pages, never their contents or
            // validity; the range is page-aligned and lies inside an allocation we own. Failure is harmless
            // (e.g. THP disabled), so the result is ignored.
            let _ = unsafe { libc::madvise(begin as *mut libc::c_void, end - begin, libc::MADV_HUGEPAGE) };
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (start, len);
}

/// A power-of-two array of index slots.
pub(crate) struct SlotArray {
    mask: usize,
    slots: Box<[AtomicU64]>,
}

impl SlotArray {
    /// An array of `capacity` empty (zero) slots; `capacity` is rounded up to a power of two (at least 8).
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(8).next_power_of_two();
        let slots = zeroed_words(capacity);
        Self {
            mask: capacity - 1,
            slots,
        }
    }

    /// Number of slots (a power of two).
    #[inline]
    pub(crate) fn capacity(&self) -> usize {
        self.mask + 1
    }

    /// Slot index of `hash`'s home position.
    #[inline]
    pub(crate) fn home(&self, hash: u64) -> usize {
        (hash as usize) & self.mask
    }

    /// The slot after `pos`, wrapping.
    #[inline]
    pub(crate) fn next(&self, pos: usize) -> usize {
        (pos + 1) & self.mask
    }

    /// Hints the CPU to start loading the cache line of the slot at `pos` (no effect on results).
    #[inline]
    pub(crate) fn prefetch(&self, pos: usize) {
        #[cfg(target_arch = "x86_64")]
        {
            let line: *const i8 = std::ptr::from_ref(self.slot(pos)).cast();
            // SAFETY: a prefetch is only a hint; it never faults and has no effect on memory contents or on the
            // program's semantics, and `line` points into the live slot array anyway.
            unsafe { std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(line) };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = pos;
    }

    /// The slot at `pos` (`pos` must come from [`Self::home`]/[`Self::next`]).
    #[inline]
    pub(crate) fn slot(&self, pos: usize) -> &AtomicU64 {
        &self.slots[pos & self.mask]
    }
}

/// The currently published [`SlotArray`].
pub(crate) struct Published {
    current: Atomic<SlotArray>,
}

impl Published {
    /// Publishes `initial`.
    pub(crate) fn new(initial: SlotArray) -> Self {
        Self {
            current: Atomic::new(initial),
        }
    }

    /// Runs `f` on the current array, pinned to the epoch so the array cannot be freed meanwhile. Lock-free.
    #[inline]
    pub(crate) fn with<R>(&self, f: impl FnOnce(&SlotArray) -> R) -> R {
        let guard = epoch::pin();
        let shared = self.current.load(Ordering::Acquire, &guard);
        // SAFETY: `current` is never null (set in `new`, only ever swapped for another non-null array), and an
        // array unlinked by `replace` is destroyed through `defer_destroy`, i.e. only after every guard pinned
        // before the unlink (such as `guard`, which outlives this borrow) has been dropped.
        let array = unsafe { shared.deref() };
        f(array)
    }

    /// Runs the lookup `f` on the current array; if it finds nothing and the array was replaced meanwhile,
    /// runs it again on the new one (a writer may have moved the key there and then changed the old slot's
    /// record). Lock-free.
    #[inline]
    pub(crate) fn lookup<R>(&self, f: impl Fn(&SlotArray) -> Option<R>) -> Option<R> {
        let guard = epoch::pin();
        let mut shared = self.current.load(Ordering::Acquire, &guard);
        loop {
            // SAFETY: as in `with`: non-null, and freed only after `guard` (held across the loop) unpins.
            let found = f(unsafe { shared.deref() });
            if found.is_some() {
                return found;
            }
            let now = self.current.load(Ordering::Acquire, &guard);
            if now == shared {
                return None;
            }
            shared = now;
        }
    }

    /// Publishes `next` in place of the current array; the old one is freed once no reader can hold it.
    /// Writers must be serialised by the caller.
    pub(crate) fn replace(&self, next: SlotArray) {
        let guard = epoch::pin();
        let old = self.current.swap(Owned::new(next), Ordering::AcqRel, &guard);
        // SAFETY: `old` has just been unlinked, so no new reader can load it; readers that loaded it are pinned
        // and the epoch collector runs the destructor only after they unpin. It is destroyed exactly once:
        // nothing else ever frees an unlinked array (Drop only frees the one still linked).
        unsafe { guard.defer_destroy(old) };
        guard.flush();
    }
}

impl Drop for Published {
    fn drop(&mut self) {
        // SAFETY: `&mut self` proves no reader or writer can reach `current` any more, so the linked array can be
        // taken back and dropped now; arrays unlinked earlier are owned by the epoch collector, not by us.
        let guard = unsafe { epoch::unprotected() };
        let shared = self.current.swap(epoch::Shared::null(), Ordering::Relaxed, guard);
        if !shared.is_null() {
            // SAFETY: see above; non-null and exclusively ours.
            drop(unsafe { shared.into_owned() });
        }
    }
}
