"""The test harness itself: every server a test starts is stopped after it."""


def test_a_restarted_server_takes_the_killed_ones_place(serve):
    server = serve()
    killed = server.proc
    server.kill()
    server.restart()
    # The fixture stops `server.proc` at the end: it must be the new process
    # (a restart that returned a new object leaked one `ami serve` per test).
    assert server.proc is not killed
    assert server.proc.poll() is None
