#pragma once

// Internal to src/index: the readers-writer lock between Search (shared) and Add (exclusive).
//
// Why not std::shared_mutex: libstdc++ builds it on a default pthread_rwlock_t, which on glibc
// prefers readers. A reader may then take the lock while a writer waits, so under a steady stream
// of overlapping searches (the serving layer's normal state) an Add can wait forever. This lock
// prefers writers: once an Add waits, new searches queue behind it, so an Add waits for at most
// the searches already running, and each search waits for at most one Add plus the searches that
// were ahead of it. Readers must not lock it recursively (a waiting writer would deadlock them);
// no code path in the module does.
//
// Meets the standard Lockable and SharedLockable requirements, so std::unique_lock and
// std::shared_lock work with it. ThreadSanitizer understands pthread rwlocks.

#include <pthread.h>

#include <cassert>

namespace freshet::index::internal {

class WriterPriorityMutex {
 public:
  WriterPriorityMutex() {
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    [[maybe_unused]] const int rc = pthread_rwlock_init(&lock_, &attr);
    assert(rc == 0);
    pthread_rwlockattr_destroy(&attr);
  }
  ~WriterPriorityMutex() { pthread_rwlock_destroy(&lock_); }
  WriterPriorityMutex(const WriterPriorityMutex&) = delete;
  WriterPriorityMutex& operator=(const WriterPriorityMutex&) = delete;

  void lock() {
    [[maybe_unused]] const int rc = pthread_rwlock_wrlock(&lock_);
    assert(rc == 0);
  }
  bool try_lock() { return pthread_rwlock_trywrlock(&lock_) == 0; }
  void unlock() { pthread_rwlock_unlock(&lock_); }

  void lock_shared() {
    // Fails only with EAGAIN (more than ~2^30 concurrent readers) or EDEADLK.
    [[maybe_unused]] const int rc = pthread_rwlock_rdlock(&lock_);
    assert(rc == 0);
  }
  bool try_lock_shared() { return pthread_rwlock_tryrdlock(&lock_) == 0; }
  void unlock_shared() { pthread_rwlock_unlock(&lock_); }

 private:
  pthread_rwlock_t lock_;
};

}  // namespace freshet::index::internal
