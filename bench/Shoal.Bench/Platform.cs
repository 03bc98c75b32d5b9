using System.Runtime.Versioning;

// The harness runs swarms of `shoal agent` processes whose tasks are host processes under a bash shim: Linux only.
[assembly: SupportedOSPlatform("linux")]
