"""The pool of a worker on the filesystem broker (the embedded default): its shutdown, run as the
worker exits, must not wait for a lock that a pool process took with it when it exited."""

import threading

import billiard

from core.prefork import BlockingPool


def test_the_shutdown_does_not_wait_for_the_queue_lock_an_exited_pool_process_kept():
    # What a stop signal to the whole process group can leave behind: a pool process stopped
    # right after it took the shared queue's read lock, before it could let go of it.
    context = billiard.get_context()
    inqueue = context.SimpleQueue()
    process = context.Process(target=inqueue._rlock.acquire)
    process.start()
    process.join()
    task_handler = threading.Thread(target=inqueue.put, args=(None,))
    task_handler.start()
    task_handler.join()

    shutdown = threading.Thread(
        target=BlockingPool._help_stuff_finish,
        args=(inqueue, task_handler, [process]),
        daemon=True,
    )
    shutdown.start()
    shutdown.join(5)
    assert not shutdown.is_alive(), "the shutdown waits for the lock of a process that exited"
