using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

namespace Shoal.Bench;

/// <summary>
/// One node as a real <c>shoal agent</c> process: its own data directory, local API socket and loopback cluster port
/// (kept across restarts; or an address in a network namespace, see <see cref="Host"/>), its stdout and stderr
/// captured line by line. It can be killed with SIGKILL, stopped with
/// SIGTERM and started again from the same data directory. Used by <see cref="LocalSwarm"/>, the benchmarks and the
/// integration tests.
/// </summary>
public sealed partial class SwarmNodeProcess : IAsyncDisposable
{
    private const int Sigterm = 15;

    // Every process started here and still running, killed when the harness exits or is stopped by SIGINT or
    // SIGTERM (Ctrl-C of a benchmark, a test host shut down), so that no agent outlives its driver. The runtime raises
    // no ProcessExit on a signal, hence the registrations (kept, as a collected registration is undone).
    private static readonly ConcurrentDictionary<Process, byte> Started = new();
    private static readonly PosixSignalRegistration[] Signals =
    [
        PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ => KillStarted()),
        PosixSignalRegistration.Create(PosixSignal.SIGINT, _ => KillStarted()),
    ];

    private readonly Lock _lock = new();
    private readonly List<NodeLogLine> _lines = [];
    private readonly List<SessionOpened> _sessions = [];
    private readonly Action<string>? _log;
    private readonly string _logLevel;
    private Process? _process;

    static SwarmNodeProcess() => AppDomain.CurrentDomain.ProcessExit += (_, _) => KillStarted();

    /// <summary>
    /// A node named <paramref name="name"/> in <paramref name="directory"/>, not started. With <paramref name="host"/>
    /// the process runs in that network namespace (<c>ip netns exec</c>, which execs the agent: same process ID) and
    /// listens and advertises on the namespace's address; its local API socket stays reachable from the host.
    /// </summary>
    public SwarmNodeProcess(string name, string directory, int port, string logLevel = "info", Action<string>? log = null, NetnsHost? host = null)
    {
        Name = name;
        Host = host;
        DataDirectory = directory;
        Port = port;
        ApiSocket = Path.Combine(directory, "shoal.sock");
        if (System.Text.Encoding.UTF8.GetByteCount(ApiSocket) > 107)
        {
            throw new ArgumentException($"the API socket path {ApiSocket} is longer than the 107 bytes a unix socket allows; use a shorter root", nameof(directory));
        }

        _logLevel = logLevel;
        _log = log;
        Api = new SwarmApiClient(ApiSocket);
    }

    /// <summary>The harness's name for the node (<c>m1</c>, <c>w2</c>); the node reports it as its hostname.</summary>
    public string Name { get; }

    /// <summary>The node's data directory.</summary>
    public string DataDirectory { get; }

    /// <summary>The cluster port it listens on while it is a manager.</summary>
    public int Port { get; }

    /// <summary>The network namespace the node runs in, or null: the host's, on loopback.</summary>
    public NetnsHost? Host { get; }

    /// <summary><c>127.0.0.1:port</c> (or the namespace's address and port): the address it listens on and advertises as a manager.</summary>
    public string Address => $"{Host?.Address ?? "127.0.0.1"}:{Port.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>The local API socket.</summary>
    public string ApiSocket { get; }

    /// <summary>The local API.</summary>
    public SwarmApiClient Api { get; }

    /// <summary>Variables added to the agent's environment at its next start (e.g. a faked clock for one node).</summary>
    public Dictionary<string, string> Environment { get; } = new(StringComparer.Ordinal);

    /// <summary>The node's ID once it is in a swarm (set by <see cref="RefreshNodeIdAsync"/>).</summary>
    public string? NodeId { get; private set; }

    /// <summary>The process ID of the running process, or 0.</summary>
    public int ProcessId => _process is { HasExited: false } p ? p.Id : 0;

    /// <summary>Whether the process runs.</summary>
    public bool IsRunning => _process is { HasExited: false };

    /// <summary>Every line the node's processes wrote, in order, across restarts.</summary>
    public IReadOnlyList<NodeLogLine> Lines
    {
        get
        {
            lock (_lock)
            {
                return [.. _lines];
            }
        }
    }

    /// <summary>Every <c>Session … opened with manager …</c> event of the node's agent, in order, across restarts.</summary>
    public IReadOnlyList<SessionOpened> Sessions
    {
        get
        {
            lock (_lock)
            {
                return [.. _sessions];
            }
        }
    }

    /// <summary>Starts the process and waits until its local API answers.</summary>
    /// <exception cref="InvalidOperationException">The process exited while starting, or did not serve in time; the message holds its last lines.</exception>
    public async Task StartAsync(TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        if (IsRunning)
        {
            throw new InvalidOperationException($"node {Name} already runs (pid {ProcessId})");
        }

        Directory.CreateDirectory(DataDirectory);
        var executable = ShoalExecutable.Locate();
        var info = new ProcessStartInfo(Host is null ? executable.FileName : "ip")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var (key, value) in Environment)
        {
            info.Environment[key] = value;
        }

        if (Host is not null)
        {
            // `ip netns exec` enters the namespace and execs the command in the same process (no fork).
            foreach (var argument in new[] { "netns", "exec", Host.Namespace, executable.FileName })
            {
                info.ArgumentList.Add(argument);
            }
        }

        foreach (var argument in executable.Prefix)
        {
            info.ArgumentList.Add(argument);
        }

        foreach (var argument in new[]
        {
            "agent", "--data-dir", DataDirectory, "--listen-addr", Address, "--advertise-addr", Address,
            "--api-socket", ApiSocket, "--hostname", Name, "--log-level", _logLevel,
        })
        {
            info.ArgumentList.Add(argument);
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {executable}");
        process.OutputDataReceived += (_, e) => Receive(e.Data, isError: false);
        process.ErrorDataReceived += (_, e) => Receive(e.Data, isError: true);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
        Started[process] = 0;
        Note($"started pid {process.Id}: {(Host is null ? string.Empty : $"ip netns exec {Host.Namespace} ")}{executable} agent --data-dir {DataDirectory} --listen-addr {Address}");

        var deadline = Stopwatch.GetTimestamp() + (long)((timeout ?? TimeSpan.FromSeconds(60)).TotalSeconds * Stopwatch.Frequency);
        while (!await Api.PingAsync(cancellationToken))
        {
            if (process.HasExited)
            {
                await process.WaitForExitAsync(cancellationToken);
                var code = process.ExitCode;
                Forget();
                throw new InvalidOperationException($"node {Name} exited with {code} while starting:\n{Tail(30)}");
            }

            if (Stopwatch.GetTimestamp() > deadline)
            {
                throw new InvalidOperationException($"node {Name} (pid {process.Id}) did not serve its local API on {ApiSocket} in time:\n{Tail(30)}");
            }

            await Task.Delay(20, cancellationToken);
        }
    }

    /// <summary>Asks the node for its ID (after it entered a swarm) and remembers it.</summary>
    public async Task<string> RefreshNodeIdAsync(CancellationToken cancellationToken = default)
    {
        var info = await Api.InfoAsync(cancellationToken);
        if (string.IsNullOrEmpty(info.Swarm.NodeID))
        {
            throw new InvalidOperationException($"node {Name} is not in a swarm (state {info.Swarm.LocalNodeState})");
        }

        NodeId = info.Swarm.NodeID;
        return NodeId;
    }

    /// <summary>SIGKILL: no shutdown, no flush. Returns when the process is gone.</summary>
    public async Task KillAsync()
    {
        if (_process is { HasExited: false } process)
        {
            process.Kill();
            await process.WaitForExitAsync();
            Note($"killed with SIGKILL (pid {process.Id})");
        }

        Forget();
    }

    /// <summary>
    /// SIGTERM, then waits for the process to exit (a graceful stop keeps the data directory for a restart). After
    /// <paramref name="timeout"/> the process is killed and <see cref="TimeoutException"/> says so.
    /// </summary>
    public async Task StopAsync(TimeSpan? timeout = null)
    {
        if (_process is not { HasExited: false } process)
        {
            return;
        }

        if (SendSignal(process.Id, Sigterm) != 0)
        {
            throw new InvalidOperationException($"kill(SIGTERM) of node {Name} (pid {process.Id}) failed: errno {Marshal.GetLastPInvokeError()}");
        }

        var limit = timeout ?? TimeSpan.FromSeconds(30);
        using var wait = new CancellationTokenSource(limit);
        try
        {
            await process.WaitForExitAsync(wait.Token);
            Note($"stopped with SIGTERM (pid {process.Id}, exit code {process.ExitCode})");
            Forget();
        }
        catch (OperationCanceledException)
        {
            await KillAsync();
            throw new TimeoutException($"node {Name} (pid {process.Id}) did not exit within {limit.TotalSeconds:0.#} s after SIGTERM; killed:\n{Tail(30)}");
        }
    }

    /// <summary>SIGTERM, wait for the exit, start again from the same data directory.</summary>
    public async Task RestartAsync(CancellationToken cancellationToken = default)
    {
        await StopAsync();
        await StartAsync(cancellationToken: cancellationToken);
    }

    /// <summary>The sessions the node's agent opened at or after <paramref name="since"/> (UTC, the node's log clock).</summary>
    public IReadOnlyList<SessionOpened> SessionsSince(DateTime since) => [.. Sessions.Where(s => s.At >= since)];

    /// <summary>The node's last <paramref name="count"/> lines, for a failure message.</summary>
    public string Tail(int count)
    {
        var lines = Lines;
        return string.Join('\n', lines.Skip(Math.Max(0, lines.Count - count)).Select(l => $"[{Name}{(l.IsError ? "!" : string.Empty)}] {l.Text}"));
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        Forget();
        Api.Dispose();
    }

    /// <inheritdoc/>
    public override string ToString() => NodeId is null ? Name : $"{Name} ({NodeId})";

    private static void KillStarted()
    {
        foreach (var process in Started.Keys)
        {
            try
            {
                process.Kill();
            }
            catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
            {
            }
        }
    }

    /// <summary>Lets go of an exited process (its output is already read).</summary>
    private void Forget()
    {
        if (_process is { HasExited: true } process)
        {
            Started.TryRemove(process, out _);
            process.Dispose();
            _process = null;
        }
    }

    private void Receive(string? text, bool isError)
    {
        if (text is null)
        {
            return;
        }

        var now = DateTime.UtcNow;
        var line = new NodeLogLine(now, isError, text);
        var match = SessionOpenedPattern().Match(text);
        lock (_lock)
        {
            _lines.Add(line);
            if (match.Success)
            {
                var at = DateTime.TryParseExact(match.Groups["at"].Value, "yyyy-MM-ddTHH:mm:ss.fff", CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var logged)
                    ? logged
                    : now;
                _sessions.Add(new SessionOpened(at, now, match.Groups["session"].Value, match.Groups["manager"].Value));
            }
        }

        _log?.Invoke($"[{Name}{(isError ? "!" : string.Empty)}] {text}");
    }

    private void Note(string text)
    {
        lock (_lock)
        {
            _lines.Add(new NodeLogLine(DateTime.UtcNow, false, "harness: " + text));
        }

        _log?.Invoke($"[{Name}] harness: {text}");
    }

    // The agent's event 6000, in the simple console format `shoal agent` writes: UTC timestamp, level, category, message.
    [GeneratedRegex(@"^(?<at>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}) .*Session (?<session>\S+) opened with manager (?<manager>\S+)")]
    private static partial Regex SessionOpenedPattern();

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int SendSignal(int pid, int signal);
}

/// <summary>One line a node wrote, with the time the harness received it (UTC).</summary>
public sealed record NodeLogLine(DateTime ReceivedAt, bool IsError, string Text);

/// <summary>
/// The node's agent opened a session with a manager: <paramref name="At"/> is the log line's own timestamp (UTC, ms),
/// <paramref name="ReceivedAt"/> when the harness read it.
/// </summary>
public sealed record SessionOpened(DateTime At, DateTime ReceivedAt, string SessionId, string Manager);

/// <summary>
/// Where the <c>shoal</c> executable is. The bench references <c>src/Cli</c>, so a build copies <c>shoal</c> (the
/// apphost), <c>shoal.dll</c>, <c>shoal.runtimeconfig.json</c> and <c>shoal.deps.json</c> next to the bench's own
/// output, and on into the output of projects that reference the bench; failing that, the CLI's own output
/// (<c>src/Cli/bin/&lt;configuration&gt;/net10.0</c>) is used. <c>SHOAL_EXE</c> overrides both.
/// </summary>
public sealed record ShoalExecutable(string FileName, IReadOnlyList<string> Prefix)
{
    private static ShoalExecutable? _located;

    /// <summary>Finds the executable once per process.</summary>
    /// <exception cref="FileNotFoundException">No build of <c>shoal</c> was found; the message says where it looked.</exception>
    public static ShoalExecutable Locate() => _located ??= Find();

    /// <inheritdoc/>
    public override string ToString() => string.Join(' ', [FileName, .. Prefix]);

    private static ShoalExecutable Find()
    {
        if (Environment.GetEnvironmentVariable("SHOAL_EXE") is { Length: > 0 } configured)
        {
            return FromFile(configured) ?? throw new FileNotFoundException($"SHOAL_EXE={configured} does not exist");
        }

        var here = AppContext.BaseDirectory;
        var searched = new List<string> { here };
        if (FromDirectory(here) is { } local)
        {
            return local;
        }

        // .../<project>/bin/<Configuration>/net10.0/: the CLI's output of the same configuration, then of the other.
        var targetDirectory = new DirectoryInfo(here);
        var configuration = targetDirectory.Parent?.Name ?? "Debug";
        for (var directory = targetDirectory; directory is not null; directory = directory.Parent)
        {
            var cli = Path.Combine(directory.FullName, "src", "Cli", "bin");
            if (!Directory.Exists(cli))
            {
                continue;
            }

            foreach (var candidate in new[] { configuration, configuration == "Release" ? "Debug" : "Release" })
            {
                var path = Path.Combine(cli, candidate, targetDirectory.Name);
                searched.Add(path);
                if (FromDirectory(path) is { } found)
                {
                    return found;
                }
            }
        }

        throw new FileNotFoundException($"the shoal executable was not found (searched {string.Join(", ", searched)}); build src/Cli or set SHOAL_EXE");
    }

    private static ShoalExecutable? FromDirectory(string directory) =>
        File.Exists(Path.Combine(directory, "shoal.dll")) && File.Exists(Path.Combine(directory, "shoal.runtimeconfig.json"))
            ? FromFile(Path.Combine(directory, "shoal")) ?? FromFile(Path.Combine(directory, "shoal.dll"))
            : null;

    private static ShoalExecutable? FromFile(string path)
    {
        if (!File.Exists(path))
        {
            return null;
        }

        // The apphost runs on its own; the dll (UseAppHost=false builds) through the dotnet muxer, in the same process.
        return path.EndsWith(".dll", StringComparison.OrdinalIgnoreCase)
            ? new ShoalExecutable("dotnet", [Path.GetFullPath(path)])
            : new ShoalExecutable(Path.GetFullPath(path), []);
    }
}
