using Shoal.Agent.Executors;
using Shoal.Api;

namespace Shoal.TestKit;

/// <summary>
/// A runtime in memory for worker tests: each task's "process" lives in the executor (it plays the host), so a second
/// worker built on the same executor finds the processes the first one left running, as after an agent restart.
/// </summary>
public sealed class FakeExecutor : IExecutor
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, FakeProcess> _processes = new(StringComparer.Ordinal);

    /// <summary>Decides per task whether the runtime refuses it (returns the rejection message) or runs it (null).</summary>
    public Func<SwarmTask, string?> Rejects { get; set; } = _ => null;

    /// <summary>Called for every new process: set its behaviour (prepare error, ignoring the stop signal…).</summary>
    public Action<FakeProcess> Configure { get; set; } = _ => { };

    /// <inheritdoc/>
    public string Runtime => "fake";

    /// <summary>The process of a task (created when its controller is).</summary>
    public FakeProcess this[string taskId]
    {
        get
        {
            lock (_lock)
            {
                return _processes[taskId];
            }
        }
    }

    /// <summary>Whether the runtime knows the task.</summary>
    public bool Knows(string taskId)
    {
        lock (_lock)
        {
            return _processes.ContainsKey(taskId);
        }
    }

    /// <inheritdoc/>
    public void Describe(NodeDescription description) => description.Engine.Labels["shoal.executor"] = Runtime;

    /// <inheritdoc/>
    public ITaskController CreateController(SwarmTask task)
    {
        if (Rejects(task) is { } reason)
        {
            throw new TaskRejectedException(reason);
        }

        lock (_lock)
        {
            if (!_processes.TryGetValue(task.Id, out var process))
            {
                _processes[task.Id] = process = new FakeProcess(task.Id, 1000 + _processes.Count);
                Configure(process);
            }

            return new Controller(process);
        }
    }

    /// <summary>One task's process, as the fake host sees it.</summary>
    public sealed class FakeProcess(string taskId, int pid)
    {
        private readonly List<string> _calls = [];
        private readonly TaskCompletionSource<TaskExit> _exit = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public string TaskId { get; } = taskId;

        public int Pid { get; } = pid;

        /// <summary>When set, Prepare fails with this message.</summary>
        public string? PrepareError { get; set; }

        /// <summary>When set, the stop signal does nothing (only Terminate ends it).</summary>
        public bool IgnoresStopSignal { get; set; }

        /// <summary>When set, Inspect reports the process lost.</summary>
        public bool Lost { get; set; }

        public bool Started { get; private set; }

        public bool Removed { get; private set; }

        public bool HasExited => _exit.Task.IsCompleted;

        /// <summary>The controller calls so far, in order ("Prepare", "Start", "Shutdown", …).</summary>
        public IReadOnlyList<string> Calls
        {
            get
            {
                lock (_calls)
                {
                    return [.. _calls];
                }
            }
        }

        public int CountOf(string call) => Calls.Count(c => c == call);

        /// <summary>Ends the process with <paramref name="code"/>.</summary>
        public void Exit(int code) => _exit.TrySetResult(new TaskExit(code));

        internal Task<TaskExit> Exited => _exit.Task;

        internal void Record(string call)
        {
            lock (_calls)
            {
                _calls.Add(call);
            }
        }

        internal void MarkStarted() => Started = true;

        internal void MarkRemoved() => Removed = true;
    }

    private sealed class Controller(FakeProcess process) : ITaskController
    {
        public int Pid => process.Started ? process.Pid : 0;

        public Task PrepareAsync(CancellationToken cancellationToken)
        {
            process.Record("Prepare");
            return process.PrepareError is { } error ? throw new InvalidOperationException(error) : Task.CompletedTask;
        }

        public Task StartAsync(CancellationToken cancellationToken)
        {
            process.Record("Start");
            process.MarkStarted();
            return Task.CompletedTask;
        }

        public Task<TaskExit> WaitAsync(CancellationToken cancellationToken) => process.Exited.WaitAsync(cancellationToken);

        public Task ShutdownAsync(CancellationToken cancellationToken)
        {
            process.Record("Shutdown");
            if (!process.IgnoresStopSignal)
            {
                process.Exit(143);
            }

            return Task.CompletedTask;
        }

        public Task TerminateAsync(CancellationToken cancellationToken)
        {
            process.Record("Terminate");
            process.Exit(137);
            return Task.CompletedTask;
        }

        public Task RemoveAsync(CancellationToken cancellationToken)
        {
            process.Record("Remove");
            process.Exit(137);
            process.MarkRemoved();
            return Task.CompletedTask;
        }

        public Task<TaskObservation> InspectAsync(CancellationToken cancellationToken)
        {
            process.Record("Inspect");
            var observation = process switch
            {
                { Lost: true } => new TaskObservation(TaskPhase.Lost, process.Pid, Reason: "the fake process is lost"),
                { Started: false } => new TaskObservation(TaskPhase.NotStarted),
                { HasExited: true } => new TaskObservation(TaskPhase.Exited, process.Pid, process.Exited.Result),
                _ => new TaskObservation(TaskPhase.Running, process.Pid),
            };
            return Task.FromResult(observation);
        }
    }
}
