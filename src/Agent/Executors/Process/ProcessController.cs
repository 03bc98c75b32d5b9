using System.Runtime.Versioning;
using System.Text;
using Microsoft.Extensions.Logging;
using Shoal.Agent.Health;

namespace Shoal.Agent.Executors.Process;

/// <summary>
/// One task of the process executor. Its whole state is in the task directory (the shim's identity, the program's
/// <c>pid</c>, its <c>exit</c>), so a new controller for the same task, in a restarted agent, carries on from there.
/// </summary>
[UnsupportedOSPlatform("windows")]
internal sealed partial class ProcessController : ITaskController, ITaskHealthProbe
{
    /// <summary>The file a health check's output goes to (both streams, rewritten by every check).</summary>
    public const string HealthOutputFile = "health.out";

    /// <summary>How often a running health check is looked at.</summary>
    private static readonly TimeSpan ProbePollInterval = TimeSpan.FromMilliseconds(10);

    /// <summary>Where setpriv (util-linux), which switches users, may be.</summary>
    private static readonly string[] SetprivPaths = ["/usr/bin/setpriv", "/bin/setpriv", "/usr/sbin/setpriv"];

    private const UnixFileMode PrivateDirectory = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode PrivateFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>The shim's liveness is checked once per this many polls of the exit file.</summary>
    private const int PollsPerLivenessCheck = 5;

    private readonly string _taskId;
    private readonly string _directory;
    private readonly ProcessLaunch _launch;
    private readonly ProcessExecutorOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CgroupLimits _cgroups;
    private volatile int _pid;

    public ProcessController(string taskId, string directory, ProcessLaunch launch, ProcessExecutorOptions options, CgroupLimits cgroups, TimeProvider time, ILogger logger)
    {
        _cgroups = cgroups;
        _taskId = taskId;
        _directory = directory;
        _launch = launch;
        _options = options;
        _time = time;
        _logger = logger;
    }

    public int Pid => _pid;

    private string ShimPath => Path.Combine(_directory, Shim.ShimFile);

    private string PidPath => Path.Combine(_directory, Shim.PidFile);

    private string ExitPath => Path.Combine(_directory, Shim.ExitFile);

    private string WorkingDirectory => _launch.WorkingDirectory is { Length: > 0 } dir ? dir : _directory;

    public Task PrepareAsync(CancellationToken cancellationToken)
    {
        if (!File.Exists(Shim.Bash))
        {
            throw new TaskRejectedException($"the process executor needs {Shim.Bash} on this node to hold its tasks; install bash");
        }

        Directory.CreateDirectory(_directory, PrivateDirectory);
        if (!Directory.Exists(WorkingDirectory))
        {
            throw new TaskRejectedException($"dir \"{WorkingDirectory}\" does not exist on this node (create it, or change the service's working directory)");
        }

        if (_launch.User is not null && SetprivPath() is null)
        {
            throw new TaskRejectedException("the service's user needs setpriv (util-linux) on this node to switch users; install it or remove the user");
        }

        var program = _launch.Command[0];
        if (ResolveProgram(program) is null)
        {
            var path = _launch.Environment.TryGetValue("PATH", out var p) ? p : string.Empty;
            throw new TaskRejectedException(program.Contains('/', StringComparison.Ordinal)
                ? $"program \"{program}\" does not exist on this node"
                : $"program \"{program}\" not found in PATH ({path}) on this node");
        }

        return Task.CompletedTask;
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (!File.Exists(ShimPath))
        {
            Spawn();
        }

        var deadline = _time.GetTimestamp();
        while (true)
        {
            if (Shim.ReadIdentity(PidPath) is { } child)
            {
                _pid = child.Pid;
                return;
            }

            if (File.Exists(ExitPath))
            {
                return;
            }

            if (_time.GetElapsedTime(deadline) > _options.StartTimeout)
            {
                throw new TimeoutException($"the task's shim did not start the program within {_options.StartTimeout.TotalSeconds:0.#} s (see {_directory})");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(5), _time, cancellationToken);
        }
    }

    public async Task<TaskExit> WaitAsync(CancellationToken cancellationToken)
    {
        var shim = Shim.ReadIdentity(ShimPath) ?? throw new InvalidOperationException($"task {_taskId} was never started");
        for (var polls = 0; ; polls++)
        {
            if (Shim.ReadExit(ExitPath) is { } code)
            {
                await ReapWhenEndedAsync(shim, cancellationToken);
                _pid = Shim.ReadIdentity(PidPath)?.Pid ?? _pid;
                return new TaskExit(code);
            }

            if (polls % PollsPerLivenessCheck == 0 && !shim.IsAlive() && Shim.ReadExit(ExitPath) is null)
            {
                Reap(shim);
                throw new IOException(LostReason(shim));
            }

            await Task.Delay(_options.PollInterval, _time, cancellationToken);
        }
    }

    public Task ShutdownAsync(CancellationToken cancellationToken)
    {
        Signal(_launch.StopSignal);
        return Task.CompletedTask;
    }

    public Task TerminateAsync(CancellationToken cancellationToken)
    {
        Signal(Native.SigKill);
        return Task.CompletedTask;
    }

    public async Task RemoveAsync(CancellationToken cancellationToken)
    {
        if (Shim.ReadIdentity(ShimPath) is { } shim)
        {
            Signal(Native.SigKill);
            // The shim writes the exit status once the program's group is gone; wait for it (briefly) so the shim is
            // not writing into the directory while it is deleted.
            var start = _time.GetTimestamp();
            while (shim.IsAlive() && _time.GetElapsedTime(start) < _options.StartTimeout)
            {
                Reap(shim);
                await Task.Delay(TimeSpan.FromMilliseconds(10), _time, cancellationToken);
            }

            Reap(shim);
        }

        _cgroups.Remove(_taskId);
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
            // Never prepared, or already removed.
        }
    }

    /// <summary>
    /// Runs a health check as the task runs: its environment, working directory and user, in a session and process
    /// group of its own (a timed-out or cancelled check is killed with everything it started), its output in
    /// <see cref="HealthOutputFile"/>. Not in the task's cgroups.
    /// </summary>
    public async Task<HealthProbeResult> ProbeAsync(IReadOnlyList<string> command, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(command);
        if (command.Count == 0 || ResolveProgram(command[0]) is not { } program)
        {
            var name = command.Count == 0 ? string.Empty : command[0];
            return new HealthProbeResult(-1, $"exec: \"{name}\": executable file not found in $PATH");
        }

        var arguments = new List<string>();
        if (_launch.User is { } user)
        {
            if (SetprivPath() is not { } setpriv)
            {
                return new HealthProbeResult(-1, "the health check needs setpriv (util-linux) on this node to run as the service's user; install it");
            }

            arguments.AddRange([setpriv, $"--reuid={user.Uid}", $"--regid={user.Gid}", user.Name is null ? "--clear-groups" : "--init-groups", "--", program]);
            program = setpriv;
        }
        else
        {
            arguments.Add(command[0]);
        }

        arguments.AddRange(command.Skip(1));
        var output = Path.Combine(_directory, HealthOutputFile);
        int pid;
        try
        {
            pid = Native.Spawn(program, arguments, [.. _launch.Environment.Select(e => $"{e.Key}={e.Value}")], WorkingDirectory, output);
        }
        catch (IOException e)
        {
            return new HealthProbeResult(-1, $"the health check could not start in {WorkingDirectory}: {e.Message}");
        }

        var start = _time.GetTimestamp();
        var ended = false;
        try
        {
            while (true)
            {
                if (Native.TryReap(pid, out var code))
                {
                    ended = true;
                    return new HealthProbeResult(code, ReadProbeOutput(output));
                }

                if (_time.GetElapsedTime(start) >= timeout)
                {
                    LogProbeTimedOut(_logger, _taskId, pid, timeout.TotalSeconds);
                    return new HealthProbeResult(-1, $"Health check exceeded timeout ({HealthCheck.GoDuration(timeout)})");
                }

                await Task.Delay(ProbePollInterval, _time, cancellationToken);
            }
        }
        finally
        {
            if (!ended)
            {
                await KillProbeAsync(pid);
            }
        }
    }

    public Task<TaskObservation> InspectAsync(CancellationToken cancellationToken)
    {
        if (Shim.ReadIdentity(ShimPath) is not { } shim)
        {
            return Task.FromResult(new TaskObservation(TaskPhase.NotStarted));
        }

        var child = Shim.ReadIdentity(PidPath);
        _pid = child?.Pid ?? 0;
        if (Shim.ReadExit(ExitPath) is { } code)
        {
            Reap(shim);
            return Task.FromResult(new TaskObservation(TaskPhase.Exited, _pid, new TaskExit(code)));
        }

        if (shim.IsAlive())
        {
            LogAdopted(_logger, _taskId, _pid, shim.Pid);
            return Task.FromResult(new TaskObservation(TaskPhase.Running, _pid));
        }

        // The shim may have written the exit file between the two looks.
        return Task.FromResult(Shim.ReadExit(ExitPath) is { } late
            ? new TaskObservation(TaskPhase.Exited, _pid, new TaskExit(late))
            : new TaskObservation(TaskPhase.Lost, _pid, Reason: LostReason(shim)));
    }

    /// <summary>Kills a health check's process group and reaps its leader (briefly: SIGKILL ends it at once).</summary>
    private async Task KillProbeAsync(int pid)
    {
        _ = Native.KillGroup(pid, Native.SigKill);
        var start = _time.GetTimestamp();
        while (!Native.TryReap(pid, out _) && _time.GetElapsedTime(start) < TimeSpan.FromSeconds(5))
        {
            await Task.Delay(ProbePollInterval, _time, CancellationToken.None);
        }
    }

    private static string ReadProbeOutput(string path)
    {
        try
        {
            using var reader = new StreamReader(path, Encoding.UTF8);
            var buffer = new char[HealthProbeResult.MaxOutput];
            var read = reader.ReadBlock(buffer, 0, buffer.Length);
            return new string(buffer, 0, read);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return string.Empty;
        }
    }

    /// <summary>
    /// The program to run, as the task's PATH finds it (a name), or relative to the working directory (a path); null
    /// when it does not exist.
    /// </summary>
    private string? ResolveProgram(string program)
    {
        if (program.Length == 0)
        {
            return null;
        }

        if (program.Contains('/', StringComparison.Ordinal))
        {
            var full = Path.IsPathRooted(program) ? program : Path.Combine(WorkingDirectory, program);
            return File.Exists(full) ? full : null;
        }

        var path = _launch.Environment.TryGetValue("PATH", out var p) ? p : string.Empty;
        return path.Split(':', StringSplitOptions.RemoveEmptyEntries).Select(d => Path.Combine(d, program)).FirstOrDefault(File.Exists);
    }

    private static string? SetprivPath() => SetprivPaths.FirstOrDefault(File.Exists);

    private void Spawn()
    {
        var groups = string.Join(':', _cgroups.Apply(_taskId, _launch.Limits));
        var arguments = new List<string> { Shim.Name, "-c", Shim.Script, Shim.Name, _directory, WorkingDirectory, _launch.User?.ToString() ?? string.Empty, groups };
        var environment = new List<string>();
        var extra = new List<string>();
        foreach (var (name, value) in _launch.Environment)
        {
            (Shim.IsBashVariable(name) ? extra : environment).Add($"{name}={value}");
        }

        arguments.Add(extra.Count.ToString(System.Globalization.CultureInfo.InvariantCulture));
        arguments.AddRange(extra);
        arguments.AddRange(_launch.Command);
        var pid = Native.Spawn(Shim.Bash, arguments, environment);
        var identity = ProcessIdentity.Of(pid) ?? new ProcessIdentity(pid, null);
        WriteAtomically(ShimPath, identity.ToString());
        LogStarted(_logger, _taskId, pid);
    }

    /// <summary>Signals the program's process group, unless it has ended (its exit file exists or its ID was reused).</summary>
    private void Signal(int signal)
    {
        if (File.Exists(ExitPath) || Shim.ReadIdentity(PidPath) is not { } child || !child.IsAlive())
        {
            return;
        }

        Native.KillGroup(child.Pid, signal);
        LogSignalled(_logger, _taskId, signal, child.Pid);
    }

    /// <summary>Reaps the shim when it is our exited child (the agent that started it, still running).</summary>
    private static void Reap(ProcessIdentity shim)
    {
        if (shim.IsZombie())
        {
            Native.Reap(shim.Pid);
        }
    }

    /// <summary>
    /// The exit file is the shim's last act: waits (briefly) for it to end and reaps it, so that an agent that runs
    /// many tasks does not collect zombies.
    /// </summary>
    private async Task ReapWhenEndedAsync(ProcessIdentity shim, CancellationToken cancellationToken)
    {
        var start = _time.GetTimestamp();
        while (shim.IsAlive() && _time.GetElapsedTime(start) < TimeSpan.FromSeconds(1))
        {
            await Task.Delay(TimeSpan.FromMilliseconds(5), _time, cancellationToken);
        }

        Reap(shim);
    }

    private static string LostReason(ProcessIdentity shim) =>
        $"the task's shim (pid {shim.Pid}) ended without recording an exit status (it was killed, or the host restarted); the task's process is lost";

    private static void WriteAtomically(string path, string content)
    {
        var temporary = path + ".tmp";
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = PrivateFile };
        using (var stream = new FileStream(temporary, options))
        {
            stream.Write(Encoding.UTF8.GetBytes(content + "\n"));
            stream.Flush(flushToDisk: true);
        }

        File.Move(temporary, path, overwrite: true);
    }

    [LoggerMessage(EventId = 6200, Level = LogLevel.Information, Message = "Task {TaskId}: shim {ShimPid} started")]
    private static partial void LogStarted(ILogger logger, string taskId, int shimPid);

    [LoggerMessage(EventId = 6201, Level = LogLevel.Information, Message = "Task {TaskId}: re-adopted the running process {Pid} (shim {ShimPid})")]
    private static partial void LogAdopted(ILogger logger, string taskId, int pid, int shimPid);

    [LoggerMessage(EventId = 6203, Level = LogLevel.Information, Message = "Task {TaskId}: health check {Pid} still running after {Seconds} s; killing it")]
    private static partial void LogProbeTimedOut(ILogger logger, string taskId, int pid, double seconds);

    [LoggerMessage(EventId = 6202, Level = LogLevel.Debug, Message = "Task {TaskId}: signal {Signal} sent to process group {Pid}")]
    private static partial void LogSignalled(ILogger logger, string taskId, int signal, int pid);
}
