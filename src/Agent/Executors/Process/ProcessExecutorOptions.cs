namespace Shoal.Agent.Executors.Process;

/// <summary>Node-local settings of the process executor.</summary>
public sealed record ProcessExecutorOptions
{
    /// <summary>The node's data directory; each task lives in <c>&lt;data-dir&gt;/tasks/&lt;task-id&gt;/</c>.</summary>
    public required string DataDirectory { get; init; }

    /// <summary>How often a waiting task checks its exit file (and, every few checks, that its shim still runs).</summary>
    /// <value>100 ms.</value>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>How long a start may take before the task fails (the shim must have started the program by then).</summary>
    /// <value>10 s.</value>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Where the cgroup v1 hierarchies are mounted (resource limits).</summary>
    /// <value><c>/sys/fs/cgroup</c>.</value>
    public string CgroupRoot { get; init; } = "/sys/fs/cgroup";

    /// <summary>The tasks' directory: <c>&lt;data-dir&gt;/tasks</c>.</summary>
    public string TasksDirectory => Path.Combine(DataDirectory, "tasks");

    /// <summary>Throws when a value makes no sense.</summary>
    public void Validate()
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(DataDirectory, nameof(DataDirectory));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(PollInterval, TimeSpan.Zero, nameof(PollInterval));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(StartTimeout, TimeSpan.Zero, nameof(StartTimeout));
    }
}
