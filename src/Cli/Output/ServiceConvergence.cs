namespace Shoal.Cli.Output;

/// <summary>The kind of a service's mode, as the progress display tells them apart.</summary>
internal enum ServiceModeKind
{
    /// <summary>A mode the display does not know (or <c>Replicated</c> without a replica count): nothing to watch.</summary>
    Unknown,

    /// <summary><c>Replicated</c>: <c>Replicas</c> tasks, one per slot.</summary>
    Replicated,

    /// <summary><c>Global</c>: one task per eligible node.</summary>
    Global,

    /// <summary><c>ReplicatedJob</c>: <c>TotalCompletions</c> completions, <c>MaxConcurrent</c> at a time.</summary>
    ReplicatedJob,

    /// <summary><c>GlobalJob</c>: one completion per eligible node.</summary>
    GlobalJob,
}

/// <summary>What the progress display reads of a service on each poll (<c>GET /services/{id}</c>).</summary>
/// <param name="Mode">The kind of the service's mode.</param>
/// <param name="Replicas">Replicated: the replica count.</param>
/// <param name="MaxConcurrent">ReplicatedJob: how many tasks may run at once.</param>
/// <param name="TotalCompletions">ReplicatedJob: how many completions the job needs.</param>
/// <param name="JobIteration">Jobs: the iteration whose tasks count (<c>JobStatus.JobIteration.Index</c>); null for other modes.</param>
/// <param name="Monitor">The stability window (<c>UpdateConfig.Monitor</c>); zero means docker's default of 5 s.</param>
/// <param name="UpdateState">The state of <c>UpdateStatus</c>, when the service has one.</param>
/// <param name="UpdateMessage">The message of <c>UpdateStatus</c>.</param>
internal sealed record ConvergenceService(
    ServiceModeKind Mode,
    ulong Replicas = 0,
    ulong MaxConcurrent = 0,
    ulong TotalCompletions = 0,
    ulong? JobIteration = null,
    TimeSpan Monitor = default,
    string? UpdateState = null,
    string? UpdateMessage = null);

/// <summary>What the progress display reads of a task (<c>GET /tasks?filters={"_up-to-date":…}</c>).</summary>
internal sealed record ConvergenceTask(
    int Slot,
    string NodeId,
    string DesiredState,
    string State,
    string? Err = null,
    ulong? JobIteration = null);

/// <summary>One line of the display: <c>Id: Action</c>, with a bar when <see cref="Total"/> is set.</summary>
/// <param name="Id">What the line is about (<c>overall progress</c>, <c>1/3</c>, a node ID, <c>verify</c>); empty for a message.</param>
/// <param name="Action">The text after the ID.</param>
/// <param name="Current">How far the bar is filled.</param>
/// <param name="Total">The bar's full length; null for a line without a bar.</param>
internal sealed record ProgressUpdate(string Id, string Action, long Current = 0, long? Total = null);

/// <summary>How a watch ends.</summary>
internal enum ConvergenceOutcome
{
    /// <summary>Keep polling.</summary>
    Watching,

    /// <summary>The service converged (and, for services, stayed so for the monitor window): exit 0.</summary>
    Converged,

    /// <summary>The update completed before convergence was seen (docker stops without a "converged" line): exit 0.</summary>
    Stopped,

    /// <summary>The update or rollback paused: exit 1 with <see cref="ServiceConvergence.Failure"/>.</summary>
    Failed,
}

/// <summary>
/// The convergence rules of <c>docker service create/update/scale</c>'s progress display
/// (docker/cli <c>cli/command/service/progress</c>), as a pure state machine: each poll gives it the service, then the
/// up-to-date tasks and the nodes that are not down; it answers the display lines to write and whether the watch is
/// over. Time comes from the <see cref="TimeProvider"/> only (the verify window), so it runs under a fake clock.
/// </summary>
internal sealed class ServiceConvergence
{
    /// <summary>How long the service must stay converged when its <c>UpdateConfig.Monitor</c> is unset.</summary>
    public static readonly TimeSpan DefaultMonitor = TimeSpan.FromSeconds(5);

    /// <summary>Above this many slots (or nodes) only the overall line is shown.</summary>
    public const int MaxProgressBars = 20;

    private const int MaxProgress = 9;
    private const int MaxJobProgress = 10;
    private const int MaxErrorWidth = 75;

    private static readonly Dictionary<string, int> NumberedStates = new(StringComparer.Ordinal)
    {
        ["new"] = 1,
        ["allocated"] = 2,
        ["pending"] = 3,
        ["assigned"] = 4,
        ["accepted"] = 5,
        ["preparing"] = 6,
        ["ready"] = 7,
        ["starting"] = 8,
        ["running"] = 9,
        // Never shown, but they order the tasks of a slot.
        ["complete"] = 10,
        ["shutdown"] = 11,
        ["failed"] = 12,
        ["rejected"] = 13,
    };

    // The width states are padded to: the longest non-terminal state, or "complete" (jobs show it).
    private static readonly int LongestState = NumberedStates
        .Where(s => s.Value <= NumberedStates["complete"])
        .Max(s => s.Key.Length);

    private readonly TimeProvider _time;
    private readonly string _reference;
    private readonly List<ProgressUpdate> _updates = [];
    private readonly Dictionary<int, int> _slotMap = [];
    private readonly HashSet<string> _jobNodes = new(StringComparer.Ordinal);

    private ConvergenceService? _service;
    private ServiceModeKind _mode;
    private bool _initialized;
    private bool _done;
    private bool _converged;
    private DateTimeOffset? _convergedAt;
    private bool _rollback;
    private ProgressUpdate? _finalMessage;
    private TimeSpan _monitor = DefaultMonitor;
    private int _jobTotal;

    /// <summary>A watch of the service the operator named <paramref name="reference"/> (the "converged" line names it so).</summary>
    public ServiceConvergence(string reference, TimeProvider time)
    {
        _reference = reference;
        _time = time;
    }

    /// <summary>Why the watch failed (<see cref="ConvergenceOutcome.Failed"/>).</summary>
    public string? Failure { get; private set; }

    /// <summary>Whether the last tasks observed were converged.</summary>
    public bool IsConverged => _converged;

    /// <summary>
    /// Takes the service of this poll. Returns <see cref="ConvergenceOutcome.Watching"/> when the tasks and nodes must be
    /// fetched and given to <see cref="ObserveTasks"/>; anything else ends the watch without them (as docker: the last
    /// poll reads only the service).
    /// </summary>
    /// <exception cref="CommandException">The service's mode is not one the display knows.</exception>
    public ConvergenceOutcome ObserveService(ConvergenceService service)
    {
        ArgumentNullException.ThrowIfNull(service);
        _service = service;
        if (service.Monitor > TimeSpan.Zero)
        {
            _monitor = service.Monitor;
        }

        if (!_initialized && _mode == ServiceModeKind.Unknown)
        {
            _mode = service.Mode is ServiceModeKind.Unknown
                ? throw new CommandException("unrecognized service mode: the service has none of Replicated (with Replicas), Global, ReplicatedJob, GlobalJob")
                : service.Mode;
        }

        switch (service.UpdateState)
        {
            case "updating":
                _rollback = false;
                break;
            case "completed":
                if (!_converged)
                {
                    return ConvergenceOutcome.Stopped;
                }

                break;
            case "paused":
                Failure = $"service update paused: {service.UpdateMessage}";
                return ConvergenceOutcome.Failed;
            case "rollback_started":
                if (!_rollback && !string.IsNullOrEmpty(service.UpdateMessage))
                {
                    Write("rollback", service.UpdateMessage);
                }

                _rollback = true;
                break;
            case "rollback_paused":
                Failure = $"service rollback paused: {service.UpdateMessage}";
                return ConvergenceOutcome.Failed;
            case "rollback_completed":
                if (!_converged)
                {
                    _finalMessage = new ProgressUpdate("rollback", service.UpdateMessage ?? string.Empty);
                }

                _rollback = true;
                break;
            default:
                break;
        }

        if (_converged && _convergedAt is { } since && _time.GetUtcNow() - since >= _monitor)
        {
            Write("verify", $"Service {_reference} converged");
            if (_finalMessage is not null)
            {
                _updates.Add(_finalMessage);
            }

            return ConvergenceOutcome.Converged;
        }

        return ConvergenceOutcome.Watching;
    }

    /// <summary>
    /// Takes the up-to-date tasks of this poll and the IDs of the nodes that are not down. Returns
    /// <see cref="ConvergenceOutcome.Converged"/> when a job is complete; services converge through the verify window
    /// of <see cref="ObserveService"/>.
    /// </summary>
    public ConvergenceOutcome ObserveTasks(IReadOnlyList<ConvergenceTask> tasks, IReadOnlySet<string> activeNodes)
    {
        ArgumentNullException.ThrowIfNull(tasks);
        ArgumentNullException.ThrowIfNull(activeNodes);
        var service = _service ?? throw new InvalidOperationException("ObserveService comes first in every poll");
        _converged = _mode switch
        {
            ServiceModeKind.Replicated => UpdateReplicated(service, tasks, activeNodes),
            ServiceModeKind.Global => UpdateGlobal(tasks, activeNodes),
            ServiceModeKind.ReplicatedJob => UpdateReplicatedJob(service, tasks),
            _ => UpdateGlobalJob(service, tasks, activeNodes),
        };

        if (_converged)
        {
            // A job stays done once done: nothing to verify.
            if (service.JobIteration is not null)
            {
                Write(string.Empty, "job complete");
                return ConvergenceOutcome.Converged;
            }

            var now = _time.GetUtcNow();
            _convergedAt ??= now;
            var wait = _monitor - (now - _convergedAt.Value);
            if (wait >= TimeSpan.Zero)
            {
                Write("verify", $"Waiting {(long)(wait.Ticks / TimeSpan.TicksPerSecond) + 1} seconds to verify that tasks are stable...");
            }
        }
        else
        {
            if (_convergedAt is not null)
            {
                Write("verify", "Detected task failure");
            }

            _convergedAt = null;
        }

        return ConvergenceOutcome.Watching;
    }

    /// <summary>The lines written since the last call, in order (a display applies them by ID).</summary>
    public IReadOnlyList<ProgressUpdate> TakeUpdates()
    {
        var updates = _updates.ToArray();
        _updates.Clear();
        return updates;
    }

    private bool UpdateReplicated(ConvergenceService service, IReadOnlyList<ConvergenceTask> tasks, IReadOnlySet<string> activeNodes)
    {
        var replicas = service.Replicas;
        if (!_initialized)
        {
            // The bars are drawn once in order, so later updates keep their places.
            WriteOverall(0, replicas);
            if (replicas <= MaxProgressBars)
            {
                for (var i = 1UL; i <= replicas; i++)
                {
                    Write($"{i}/{replicas}", " ");
                }
            }

            _initialized = true;
        }

        var bySlot = Pick(tasks, t => t.Slot, t => t.NodeId.Length == 0 || activeNodes.Contains(t.NodeId));
        if (_done && bySlot.Values.Any(t => t.State != "running"))
        {
            _done = false;
        }

        var running = 0UL;
        foreach (var (slot, task) in bySlot.OrderBy(p => p.Key))
        {
            if (!_slotMap.TryGetValue(slot, out var mapped))
            {
                mapped = _slotMap.Count + 1;
                _slotMap[slot] = mapped;
            }

            if (!IsTerminal(task.DesiredState) && task.State == "running")
            {
                running++;
            }

            if (!_done && replicas <= MaxProgressBars && (ulong)mapped <= replicas)
            {
                WriteTask($"{mapped}/{replicas}", task, MaxProgress, toCompletion: false);
            }
        }

        if (!_done)
        {
            WriteOverall(running, replicas);
            _done = running == replicas;
        }

        return running == replicas;
    }

    private bool UpdateGlobal(IReadOnlyList<ConvergenceTask> tasks, IReadOnlySet<string> activeNodes)
    {
        var byNode = Pick(tasks, t => t.NodeId, _ => true);
        // The orchestrator creates the tasks of all eligible nodes at once, so the up-to-date tasks name them all.
        var nodeCount = (ulong)byNode.Count;
        if (!_initialized)
        {
            if (nodeCount == 0)
            {
                // Either the tasks are not created yet, or no node satisfies the constraints: wait.
                Write("overall progress", "waiting for new tasks");
                return false;
            }

            WriteOverall(0, nodeCount);
            _initialized = true;
        }

        if (_done && byNode.Values.Any(t => t.State != "running"))
        {
            _done = false;
        }

        var running = 0UL;
        foreach (var (node, task) in byNode.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            if (!activeNodes.Contains(node))
            {
                continue;
            }

            if (!IsTerminal(task.DesiredState) && task.State == "running")
            {
                running++;
            }

            if (!_done && nodeCount <= MaxProgressBars)
            {
                WriteTask(TruncateId(node), task, MaxProgress, toCompletion: false);
            }
        }

        if (!_done)
        {
            WriteOverall(running, nodeCount);
            _done = running == nodeCount;
        }

        return running == nodeCount;
    }

    private bool UpdateReplicatedJob(ConvergenceService service, IReadOnlyList<ConvergenceTask> tasks)
    {
        var total = (long)service.TotalCompletions;
        if (!_initialized)
        {
            WriteJobOverall(service, 0, 0);
            if (total <= MaxProgressBars)
            {
                for (var i = 1; i <= total; i++)
                {
                    Write($"{i}/{total}", " ");
                }
            }

            _initialized = true;
        }

        // Per slot the task with the lowest observed state: a retry in progress shows over the failed attempt.
        var bySlot = new Dictionary<int, ConvergenceTask>();
        foreach (var task in tasks.Where(t => t.JobIteration == service.JobIteration && IsKnown(t)))
        {
            if (!bySlot.TryGetValue(task.Slot, out var existing) || NumberedStates[existing.State] > NumberedStates[task.State])
            {
                bySlot[task.Slot] = task;
            }
        }

        int active = 0, complete = 0;
        foreach (var (slot, task) in bySlot.OrderBy(p => p.Key))
        {
            if (total <= MaxProgressBars)
            {
                // Job slots count from 0.
                WriteTask($"{slot + 1}/{total}", task, MaxJobProgress, toCompletion: true);
            }

            if (NumberedStates[task.State] < NumberedStates["complete"])
            {
                active++;
            }

            if (task.State == "complete")
            {
                complete++;
            }
        }

        WriteJobOverall(service, active, complete);
        return complete == total;
    }

    private bool UpdateGlobalJob(ConvergenceService service, IReadOnlyList<ConvergenceTask> tasks, IReadOnlySet<string> activeNodes)
    {
        if (!_initialized)
        {
            if (tasks.Count == 0 && activeNodes.Count != 0)
            {
                Write("job progress", "waiting for tasks");
                return false;
            }

            // A global job creates all its tasks at once; nodes that join later are not waited for.
            foreach (var task in tasks.Where(t => t.JobIteration == service.JobIteration))
            {
                _jobNodes.Add(task.NodeId);
            }

            _jobTotal = _jobNodes.Count;
            WriteGlobalJobOverall(0);
            _initialized = true;
        }

        var byNode = new Dictionary<string, ConvergenceTask>(StringComparer.Ordinal);
        foreach (var task in tasks.Where(t => t.JobIteration == service.JobIteration && _jobNodes.Contains(t.NodeId)))
        {
            if (!byNode.TryGetValue(task.NodeId, out var existing) || Number(existing.State) > Number(task.State))
            {
                byNode[task.NodeId] = task;
            }
        }

        var complete = 0;
        foreach (var (node, task) in byNode.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            if (_jobTotal <= MaxProgressBars)
            {
                WriteTask(node, task, MaxJobProgress, toCompletion: true);
            }

            if (task.State == "complete")
            {
                complete++;
            }
        }

        WriteGlobalJobOverall(complete);
        return complete == _jobTotal;
    }

    /// <summary>
    /// One task per key (slot or node): the lowest desired state wins, then the lowest observed state (a restart or a
    /// start-first update leaves two); tasks in states the display does not know, or that <paramref name="keep"/>
    /// refuses, are skipped.
    /// </summary>
    private static Dictionary<TKey, ConvergenceTask> Pick<TKey>(IReadOnlyList<ConvergenceTask> tasks, Func<ConvergenceTask, TKey> key, Func<ConvergenceTask, bool> keep)
        where TKey : notnull
    {
        var picked = new Dictionary<TKey, ConvergenceTask>();
        foreach (var task in tasks)
        {
            if (!IsKnown(task))
            {
                continue;
            }

            if (picked.TryGetValue(key(task), out var existing))
            {
                var existingDesired = NumberedStates[existing.DesiredState];
                var desired = NumberedStates[task.DesiredState];
                if (existingDesired < desired || (existingDesired == desired && NumberedStates[existing.State] <= NumberedStates[task.State]))
                {
                    continue;
                }
            }

            if (keep(task))
            {
                picked[key(task)] = task;
            }
        }

        return picked;
    }

    private void WriteTask(string id, ConvergenceTask task, int total, bool toCompletion)
    {
        if (!string.IsNullOrEmpty(task.Err))
        {
            Write(id, TruncateError(task.Err));
            return;
        }

        // Jobs show their tasks to completion; services only up to running.
        if (toCompletion || (!IsTerminal(task.DesiredState) && !IsTerminal(task.State)))
        {
            _updates.Add(new ProgressUpdate(id, task.State.PadRight(LongestState), Number(task.State), total));
        }
    }

    private void WriteOverall(ulong running, ulong total) =>
        Write("overall progress", _rollback ? $"rolling back update: {running} out of {total} tasks" : $"{running} out of {total} tasks");

    private void WriteJobOverall(ConvergenceService service, int active, int complete)
    {
        var total = (long)service.TotalCompletions;
        var concurrent = (long)service.MaxConcurrent;
        var digits = Digits(total);
        _updates.Add(new ProgressUpdate("job progress", $"{complete.ToString(System.Globalization.CultureInfo.InvariantCulture).PadLeft(digits)} out of {total} complete", complete, total));
        // Active tasks out of what may run now: MaxConcurrent, or fewer once fewer completions remain.
        var activeDigits = Digits(concurrent);
        var desired = Math.Min(total - complete, concurrent);
        Write("active tasks", $"{Pad(active, activeDigits)} out of {Pad(desired, activeDigits)} tasks");
    }

    private void WriteGlobalJobOverall(int complete) =>
        _updates.Add(new ProgressUpdate("job progress", $"{Pad(complete, Digits(_jobTotal))} out of {_jobTotal} complete", complete, _jobTotal));

    private void Write(string id, string action) => _updates.Add(new ProgressUpdate(id, action));

    private static bool IsKnown(ConvergenceTask task) =>
        NumberedStates.ContainsKey(task.DesiredState) && NumberedStates.ContainsKey(task.State);

    private static int Number(string state) => NumberedStates.GetValueOrDefault(state);

    private static bool IsTerminal(string state) => Number(state) > NumberedStates["running"];

    private static int Digits(long value) => value.ToString(System.Globalization.CultureInfo.InvariantCulture).Length;

    private static string Pad(long value, int width) => value.ToString(System.Globalization.CultureInfo.InvariantCulture).PadLeft(width);

    /// <summary>An error on one line, at most 75 characters, so it does not wrap on a narrow terminal.</summary>
    private static string TruncateError(string error)
    {
        var line = error.Replace('\n', ' ');
        return line.Length > MaxErrorWidth ? line[..(MaxErrorWidth - 1)] + "…" : line;
    }

    private static string TruncateId(string id) => id.Length > 12 ? id[..12] : id;
}
