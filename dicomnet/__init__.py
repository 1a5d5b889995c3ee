"""DICOM networking, the bottom layer: the only code that runs DCMTK programs.

It imports no Django app and reads no configuration: callers pass every value (the program, our
AE title, the timeouts) and get typed results (``echo(...) -> EchoResult``,
``send_files(...) -> SendReport``). ``addresses`` holds the checks of AE titles, hosts and ports
that every value passes again right before it goes on a command line.
"""
