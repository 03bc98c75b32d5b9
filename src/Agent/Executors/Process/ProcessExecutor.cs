using System.Globalization;
using System.Runtime.Versioning;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Shoal.Api;

namespace Shoal.Agent.Executors.Process;

/// <summary>
/// The process executor (DESIGN §9): each task's <c>ContainerSpec.command</c> + <c>args</c> run as a host process in
/// its own session and process group, held by a shim that outlives the agent (<see cref="Shim"/>). The image is only
/// recorded: nothing is pulled or isolated. <c>env</c>, <c>dir</c> (default: the task directory), <c>user</c> (root
/// agents only), <c>stop_signal</c>, <c>stop_grace_period</c> and <c>healthcheck</c> (run with the task's environment,
/// directory and user: <see cref="ProcessController.ProbeAsync"/>) apply; everything else of the container spec is
/// ignored.
/// </summary>
[UnsupportedOSPlatform("windows")]
public sealed class ProcessExecutor : IExecutor
{
    /// <summary>The runtime name.</summary>
    public const string RuntimeName = "process";

    private readonly ProcessExecutorOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CgroupLimits _cgroups;

    /// <param name="options">Where task directories live and how often to look at them.</param>
    /// <param name="timeProvider">The clock of polls and timeouts.</param>
    /// <param name="logger">Where to log.</param>
    public ProcessExecutor(ProcessExecutorOptions options, TimeProvider? timeProvider = null, ILogger<ProcessExecutor>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _time = timeProvider ?? TimeProvider.System;
        _logger = logger ?? (ILogger)NullLogger.Instance;
        _cgroups = new CgroupLimits(options.CgroupRoot, _logger);
    }

    /// <inheritdoc/>
    public string Runtime => RuntimeName;

    /// <summary>The directory of one task: <c>&lt;data-dir&gt;/tasks/&lt;task-id&gt;</c>.</summary>
    public string TaskDirectory(string taskId) => Path.Combine(_options.TasksDirectory, TaskIds.Require(taskId));

    /// <inheritdoc/>
    public void Describe(NodeDescription description)
    {
        ArgumentNullException.ThrowIfNull(description);
        description.Engine ??= new EngineDescription();
        description.Engine.Labels["shoal.executor"] = RuntimeName;
    }

    /// <inheritdoc/>
    public ITaskController CreateController(SwarmTask task)
    {
        ArgumentNullException.ThrowIfNull(task);
        return new ProcessController(task.Id, TaskDirectory(task.Id), Launch(task), _options, _cgroups, _time, _logger);
    }

    /// <summary>What to run for <paramref name="task"/>, or why it cannot run here.</summary>
    internal static ProcessLaunch Launch(SwarmTask task)
    {
        var spec = task.Spec;
        if (spec is null || spec.RuntimeCase != TaskSpec.RuntimeOneofCase.Container
            || spec.RuntimeName is not ("" or "container"))
        {
            var runtime = spec is null ? "none" : spec.RuntimeName is { Length: > 0 } name ? name : spec.RuntimeCase.ToString().ToLowerInvariant();
            throw new TaskRejectedException($"unsupported runtime \"{runtime}\": the process executor runs container tasks only");
        }

        var container = spec.Container;
        var command = container.Command.Count > 0 ? container.Command.Concat(container.Args).ToList() : [.. container.Args];
        if (command.Count == 0 || command[0].Length == 0)
        {
            throw new TaskRejectedException("no command: the process executor runs the service's command and args (set them, e.g. `--entrypoint` or the service's args)");
        }

        var environment = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var entry in container.Env)
        {
            var equals = entry.IndexOf('=', StringComparison.Ordinal);
            if (equals > 0)
            {
                environment[entry[..equals]] = entry[(equals + 1)..];
            }
        }

        if (!environment.ContainsKey("PATH"))
        {
            environment["PATH"] = Environment.GetEnvironmentVariable("PATH") is { Length: > 0 } path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        }

        environment["SHOAL_TASK_ID"] = task.Id;
        environment["SHOAL_TASK_SLOT"] = task.Slot.ToString(CultureInfo.InvariantCulture);
        environment["SHOAL_SERVICE_NAME"] = task.ServiceAnnotations?.Name ?? string.Empty;
        environment["SHOAL_NODE_ID"] = task.NodeId;

        var stopSignal = Signals.Parse(container.StopSignal)
            ?? throw new TaskRejectedException($"unknown stop signal \"{container.StopSignal}\" (use a name such as SIGTERM or SIGINT, or a number)");
        var user = container.User is { Length: > 0 } u ? Users.Resolve(u) : null;
        return new ProcessLaunch(command, environment, container.Dir, user, stopSignal, spec.Resources?.Limits);
    }
}

/// <summary>What the process executor runs for one task.</summary>
/// <param name="Command">The program and its arguments.</param>
/// <param name="Environment">The program's whole environment.</param>
/// <param name="WorkingDirectory">Where it runs; empty for the task directory.</param>
/// <param name="User">Who it runs as; null for the agent's own user.</param>
/// <param name="StopSignal">The signal that asks it to stop.</param>
/// <param name="Limits">Its resource limits, if any.</param>
internal sealed record ProcessLaunch(IReadOnlyList<string> Command, IReadOnlyDictionary<string, string> Environment, string WorkingDirectory, TaskUser? User, int StopSignal, ResourceLimits? Limits);

/// <summary>Task IDs become directory and file names: only the characters of generated IDs are accepted.</summary>
internal static class TaskIds
{
    public static string Require(string taskId) =>
        taskId is { Length: > 0 and <= 64 } && taskId.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_')
            ? taskId
            : throw new ArgumentException($"\"{taskId}\" is not a task ID (letters, digits, '-' and '_' only)", nameof(taskId));
}

/// <summary>Signal names and numbers (Linux).</summary>
[UnsupportedOSPlatform("windows")]
internal static class Signals
{
    private static readonly string[] Names =
    [
        "", "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2", "PIPE", "ALRM", "TERM",
        "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG", "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
    ];

    /// <summary>The number of a signal given as "SIGTERM", "TERM" or "15"; SIGTERM when empty; null when unknown.</summary>
    public static int? Parse(string? signal)
    {
        if (string.IsNullOrWhiteSpace(signal))
        {
            return Native.SigTerm;
        }

        var text = signal.Trim();
        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var number))
        {
            return number is >= 1 and <= 64 ? number : null;
        }

        if (text.StartsWith("SIG", StringComparison.OrdinalIgnoreCase))
        {
            text = text[3..];
        }

        var index = Array.FindIndex(Names, n => n.Length > 0 && string.Equals(n, text, StringComparison.OrdinalIgnoreCase));
        return index > 0 ? index : null;
    }
}

/// <summary>A user the task runs as.</summary>
/// <param name="Uid">User ID.</param>
/// <param name="Gid">Primary group ID.</param>
/// <param name="Name">The account name, when the user is in /etc/passwd (its supplementary groups then apply).</param>
internal sealed record TaskUser(uint Uid, uint Gid, string? Name)
{
    /// <summary>The shim's "uid:gid:name" argument.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Uid}:{Gid}:{Name}");
}

/// <summary>Resolves <c>ContainerSpec.user</c> ("name", "uid", "name:group", "uid:gid") through /etc/passwd and /etc/group.</summary>
[UnsupportedOSPlatform("windows")]
internal static class Users
{
    public static TaskUser Resolve(string user)
    {
        if (!Native.IsRoot)
        {
            throw new TaskRejectedException($"user \"{user}\": the process executor can switch users only when the agent runs as root; run the agent as root or remove the service's user");
        }

        var parts = user.Split(':', 2);
        var passwd = ReadDatabase("/etc/passwd");
        var entry = passwd.FirstOrDefault(f => f.Length > 3 && (f[0] == parts[0] || f[2] == parts[0]));
        uint uid;
        uint gid;
        string? name = null;
        if (entry is not null)
        {
            uid = uint.Parse(entry[2], CultureInfo.InvariantCulture);
            gid = uint.Parse(entry[3], CultureInfo.InvariantCulture);
            name = entry[0];
        }
        else if (uint.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out uid))
        {
            gid = 0;
        }
        else
        {
            throw new TaskRejectedException($"user \"{parts[0]}\" not found in /etc/passwd (give a numeric uid[:gid] or create the user)");
        }

        if (parts.Length == 2)
        {
            var group = ReadDatabase("/etc/group").FirstOrDefault(f => f.Length > 2 && (f[0] == parts[1] || f[2] == parts[1]));
            if (group is not null)
            {
                gid = uint.Parse(group[2], CultureInfo.InvariantCulture);
            }
            else if (!uint.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out gid))
            {
                throw new TaskRejectedException($"group \"{parts[1]}\" not found in /etc/group (give a numeric gid or create the group)");
            }
        }

        return new TaskUser(uid, gid, name);
    }

    private static List<string[]> ReadDatabase(string path)
    {
        try
        {
            return [.. File.ReadLines(path).Where(l => l.Length > 0 && l[0] != '#').Select(l => l.Split(':'))];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }
}
