using Shoal.Agent.Executors;
using Shoal.Api;

namespace Shoal.Bench.Hollow;

/// <summary>
/// A runtime with nothing behind it, for hollow workers: a task "starts" at once (or after
/// <see cref="StartDelay"/>) and "runs" until it is stopped, terminated or removed. Nothing is written to disk and no
/// process is started; the only state is one completion source per task, dropped when the task is removed.
/// </summary>
public sealed class HollowExecutor : IExecutor
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, HollowProcess> _processes = new(StringComparer.Ordinal);

    /// <summary>How long a start takes (zero: the task runs as soon as it is started).</summary>
    public TimeSpan StartDelay { get; init; }

    /// <inheritdoc/>
    public string Runtime => "hollow";

    /// <summary>Tasks this runtime holds now (started or not, until removed).</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _processes.Count;
            }
        }
    }

    /// <inheritdoc/>
    public void Describe(NodeDescription description)
    {
        ArgumentNullException.ThrowIfNull(description);
        description.Engine ??= new EngineDescription();
        description.Engine.Labels["shoal.executor"] = Runtime;
    }

    /// <inheritdoc/>
    public ITaskController CreateController(SwarmTask task)
    {
        ArgumentNullException.ThrowIfNull(task);
        lock (_lock)
        {
            if (!_processes.TryGetValue(task.Id, out var process))
            {
                _processes[task.Id] = process = new HollowProcess();
            }

            return new Controller(this, task.Id, process);
        }
    }

    private void Forget(string taskId)
    {
        lock (_lock)
        {
            _processes.Remove(taskId);
        }
    }

    /// <summary>One task's pretend process.</summary>
    private sealed class HollowProcess
    {
        public TaskCompletionSource<TaskExit> Exit { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public volatile bool Started;
    }

    private sealed class Controller(HollowExecutor executor, string taskId, HollowProcess process) : ITaskController
    {
        public int Pid => process.Started ? 1 : 0;

        public Task PrepareAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public async Task StartAsync(CancellationToken cancellationToken)
        {
            if (executor.StartDelay > TimeSpan.Zero)
            {
                await Task.Delay(executor.StartDelay, cancellationToken);
            }

            process.Started = true;
        }

        public Task<TaskExit> WaitAsync(CancellationToken cancellationToken) => process.Exit.Task.WaitAsync(cancellationToken);

        public Task ShutdownAsync(CancellationToken cancellationToken)
        {
            process.Exit.TrySetResult(new TaskExit(143));
            return Task.CompletedTask;
        }

        public Task TerminateAsync(CancellationToken cancellationToken)
        {
            process.Exit.TrySetResult(new TaskExit(137));
            return Task.CompletedTask;
        }

        public Task RemoveAsync(CancellationToken cancellationToken)
        {
            process.Exit.TrySetResult(new TaskExit(137));
            executor.Forget(taskId);
            return Task.CompletedTask;
        }

        public Task<TaskObservation> InspectAsync(CancellationToken cancellationToken) => Task.FromResult(
            !process.Started ? new TaskObservation(TaskPhase.NotStarted)
            : process.Exit.Task.IsCompleted ? new TaskObservation(TaskPhase.Exited, 1, process.Exit.Task.Result)
            : new TaskObservation(TaskPhase.Running, 1));
    }
}
