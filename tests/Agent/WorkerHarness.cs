using Shoal.Agent.Executors;
using Shoal.Api;
using Shoal.TestKit;

namespace Shoal.Agent.Tests;

/// <summary>Records every batch of status updates a worker sends.</summary>
public sealed class ReportLog
{
    private readonly Lock _lock = new();
    private readonly List<IReadOnlyList<TaskStatusUpdate>> _batches = [];

    /// <summary>When set, each send waits for it (to make updates pile up).</summary>
    public TaskCompletionSource? Gate { get; set; }

    public IReadOnlyList<IReadOnlyList<TaskStatusUpdate>> Batches
    {
        get
        {
            lock (_lock)
            {
                return [.. _batches];
            }
        }
    }

    public async Task SendAsync(IReadOnlyList<TaskStatusUpdate> updates, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            _batches.Add([.. updates.Select(u => u.Clone())]);
        }

        if (Gate is { } gate)
        {
            await gate.Task.WaitAsync(cancellationToken);
        }
    }

    /// <summary>The statuses reported for a task, in the order sent.</summary>
    public IReadOnlyList<SwarmTaskStatus> Of(string taskId) =>
        [.. Batches.SelectMany(b => b).Where(u => u.TaskId == taskId).Select(u => u.Status)];

    /// <summary>The states reported for a task, in the order sent.</summary>
    public IReadOnlyList<TaskState> StatesOf(string taskId) => [.. Of(taskId).Select(s => s.State)];

    /// <summary>The last status reported for a task (null before the first).</summary>
    public SwarmTaskStatus? Last(string taskId) => Of(taskId) is { Count: > 0 } all ? all[^1] : null;
}

/// <summary>A temporary data directory; on disposal, kills the process groups of tasks left running in it, then deletes it.</summary>
public sealed class TempDataDirectory : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("shoal-agent-").FullName;

    public void Dispose()
    {
        var tasks = System.IO.Path.Combine(Path, "tasks");
        if (Directory.Exists(tasks) && !OperatingSystem.IsWindows())
        {
            foreach (var pidFile in Directory.EnumerateFiles(tasks, "pid", SearchOption.AllDirectories))
            {
                if (int.TryParse(File.ReadAllText(pidFile).Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture, out var pid) && pid > 1)
                {
                    _ = Kill(-pid, 9);
                }
            }
        }

        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // A shim still finishing its last write; the temp directory is cleaned up by the OS.
        }
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill")]
    private static extern int Kill(int pid, int signal);
}

/// <summary>Builds assignment messages the way the dispatcher does.</summary>
public static class Assignments
{
    public static AssignmentsMessage Complete(string resultsIn, params SwarmTask[] tasks)
    {
        var message = new AssignmentsMessage { Type = AssignmentsType.AssignmentsComplete, AppliesTo = string.Empty, ResultsIn = resultsIn };
        message.Changes.AddRange(tasks.Select(t => Change(t, AssignmentAction.Update)));
        return message;
    }

    public static AssignmentsMessage Increment(string appliesTo, string resultsIn, params (SwarmTask Task, AssignmentAction Action)[] changes)
    {
        var message = new AssignmentsMessage { Type = AssignmentsType.AssignmentsIncremental, AppliesTo = appliesTo, ResultsIn = resultsIn };
        message.Changes.AddRange(changes.Select(c => Change(c.Task, c.Action)));
        return message;
    }

    /// <summary>A task as the dispatcher assigns it: on the node, ASSIGNED, with the given desired state.</summary>
    public static SwarmTask Task(Service service, long slot, TaskState desired = TaskState.Running) =>
        Objects.Task(service, slot, "node-1", TaskState.Assigned, desired);

    /// <summary>The same task with another desired state (as the orchestrator would write it).</summary>
    public static SwarmTask WithDesired(SwarmTask task, TaskState desired)
    {
        var copy = task.Clone();
        copy.DesiredState = desired;
        return copy;
    }

    private static AssignmentChange Change(SwarmTask task, AssignmentAction action) =>
        new() { Assignment = new Assignment { Task = task }, Action = action };
}

/// <summary>A worker on a data directory with a report log.</summary>
public sealed class WorkerUnderTest : IAsyncDisposable
{
    public WorkerUnderTest(string dataDirectory, IExecutor executor, ReportLog? reports = null)
    {
        Reports = reports ?? new ReportLog();
        Worker = new Worker(new WorkerOptions { DataDirectory = dataDirectory }, executor, Reports.SendAsync, loggerFactory: TestLog.Factory);
    }

    public Worker Worker { get; }

    public ReportLog Reports { get; }

    public TaskState StateOf(string taskId) => Worker.Tasks.TryGetValue(taskId, out var task) ? task.Status.State : TaskState.New;

    /// <summary>Waits until the task reached <paramref name="state"/> and it was reported.</summary>
    public Task ReachesAsync(SwarmTask task, TaskState state, TimeSpan? timeout = null) =>
        Eventually.TrueAsync(
            () => Reports.Last(task.Id)?.State == state,
            $"task {task.Id} reported {state} (last reported: {Reports.Last(task.Id)?.State.ToString() ?? "nothing"}, worker holds {StateOf(task.Id)})",
            timeout);

    public ValueTask DisposeAsync() => Worker.DisposeAsync();
}
