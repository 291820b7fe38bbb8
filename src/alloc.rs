//! Process memory policy. The binaries use mimalloc (`src/bin`); these
//! calls tune it and do nothing when another allocator is in use (tests).

/// `mi_option_purge_delay` in mimalloc.h (v2): how long freed memory is
/// kept before it is returned to the OS. libmimalloc-sys names no constant.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Return freed memory to the OS at once instead of after mimalloc's
/// default 10 ms. A cook frees each phase (TOML tokens and tree) before the
/// next (AST, IR) allocates objects of other sizes; without this, freed
/// pages stay resident and every phase adds to the peak (a 100,000-step
/// cook: 395 MB peak instead of 256 MB).
pub fn return_freed_memory_promptly() {
    // SAFETY: sets a documented mimalloc option; any value is valid.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) }
}

/// Iterate a vector by value, giving the memory of the elements already
/// taken back to the OS as the iteration goes. A consumer that turns each
/// element into something new (cook: AST steps into IR steps) then holds
/// the old and the new form of only a few elements at once, instead of the
/// old vector's whole buffer until the end (74 MB for 100,000 steps).
pub fn into_iter_releasing<T>(items: Vec<T>) -> Releasing<T> {
    let start = items.as_ptr() as usize;
    let bytes = items.capacity() * std::mem::size_of::<T>();
    Releasing {
        items: items.into_iter(),
        // Only whole pages of a large buffer; small ones are not worth it.
        released: (bytes >= RELEASE_MIN_BYTES).then(|| start.next_multiple_of(PAGE)),
    }
}

/// Buffers smaller than this are iterated plainly.
const RELEASE_MIN_BYTES: usize = 4 << 20;
/// Pages are released in batches of this many bytes.
const RELEASE_BATCH: usize = 1 << 20;
/// The smallest page size of the platforms we build for; releasing whole
/// 4 KiB units inside a larger page is refused by nothing and harmless.
const PAGE: usize = 4096;

/// See [`into_iter_releasing`].
pub struct Releasing<T> {
    items: std::vec::IntoIter<T>,
    /// Address up to which pages were given back, when releasing at all.
    released: Option<usize>,
}

impl<T> Iterator for Releasing<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        let item = self.items.next()?;
        if let Some(done) = self.released {
            // Every byte below `next` belonged to an element moved out.
            let next = self.items.as_slice().as_ptr() as usize;
            let upto = next - next % PAGE;
            if upto >= done + RELEASE_BATCH {
                release(done, upto - done);
                self.released = Some(upto);
            }
        }
        Some(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.items.size_hint()
    }
}

/// Tell the OS that `len` bytes at `addr` (whole pages of a heap buffer
/// whose elements were all moved out) are no longer needed: it drops them
/// now, and any later touch (the allocator reusing the memory) gets fresh
/// zeroed pages.
#[cfg(target_os = "linux")]
fn release(addr: usize, len: usize) {
    // SAFETY: the range is whole pages inside a live allocation that this
    // iterator owns, holding only moved-out elements nobody reads again;
    // MADV_DONTNEED on private anonymous memory only replaces their
    // contents with zeros. A failure leaves the pages as they were.
    unsafe {
        libc::madvise(addr as *mut libc::c_void, len, libc::MADV_DONTNEED);
    }
}

#[cfg(not(target_os = "linux"))]
fn release(_addr: usize, _len: usize) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releasing_yields_every_element_in_order_and_drops_the_rest() {
        // Large enough to release pages; elements own heap memory so that
        // a wrong release or a double drop would show.
        let items: Vec<String> = (0..400_000).map(|i| format!("item {i}")).collect();
        let mut it = into_iter_releasing(items);
        for i in 0..300_000 {
            assert_eq!(it.next().as_deref(), Some(format!("item {i}").as_str()));
        }
        assert_eq!(it.size_hint(), (100_000, Some(100_000)));
        drop(it);
        let small: Vec<u8> = vec![1, 2, 3];
        assert_eq!(into_iter_releasing(small).collect::<Vec<_>>(), [1, 2, 3]);
    }
}
