using System.Runtime.Versioning;

// Real `shoal agent` processes, SIGKILL, and task processes under a bash shim: Linux only.
[assembly: SupportedOSPlatform("linux")]
