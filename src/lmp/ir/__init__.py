"""The typed IR: the single representation shared by checker, interpreter, optimizer and server."""
