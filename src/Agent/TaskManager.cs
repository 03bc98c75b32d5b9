using System.Globalization;
using System.Threading.Channels;
using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Logging;
using Shoal.Agent.Executors;
using Shoal.Agent.Health;
using Shoal.Api;

namespace Shoal.Agent;

/// <summary>
/// Drives one task through its runtime's <see cref="ITaskController"/> (DESIGN §9): ACCEPTED → PREPARING → READY →
/// STARTING → RUNNING → COMPLETE | FAILED | SHUTDOWN, or REJECTED when it cannot be prepared. States only move
/// forward. Desired READY prepares without starting; desired SHUTDOWN or REMOVE stops the task (stop signal, then
/// SIGKILL after the stop grace period). Every change is recorded in the <see cref="TaskDb"/> first, then queued on the
/// <see cref="StatusReporter"/>, which the task never waits for.
/// </summary>
/// <remarks>
/// Health checks (Docker's swarm semantics, moby <c>daemon/cluster/executor/container/controller.go</c>): a task whose
/// container spec has one stays STARTING (message "starting") after its process started, until a check passes; then
/// it is RUNNING. A task that becomes unhealthy (<see cref="HealthMonitor"/>), whether it was healthy before or never
/// was, is stopped like a shutdown (stop signal, SIGKILL after the grace period) and FAILED with Docker's error
/// <c>task: non-zero exit (N): dockerexec: unhealthy container</c> and the message
/// <c>unhealthy: &lt;last line of the last check&gt;</c>. A re-adopted task resumes checking (a RUNNING one was healthy).
/// </remarks>
internal sealed partial class TaskManager : IAsyncDisposable
{
    /// <summary>The default time between the stop signal and SIGKILL (Docker's).</summary>
    public static readonly TimeSpan DefaultStopGracePeriod = TimeSpan.FromSeconds(10);

    /// <summary>Docker's error for a task stopped because it became unhealthy (moby's <c>ErrContainerUnhealthy</c>).</summary>
    public const string UnhealthyError = "dockerexec: unhealthy container";

    /// <summary>The pause before the loop runs again after an unexpected failure.</summary>
    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(1);

    private readonly IExecutor _executor;
    private readonly TaskDb _db;
    private readonly StatusReporter _reporter;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly Channel<bool> _changes = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly CancellationTokenSource _stop = new();
    private SwarmTask _task;
    private ITaskController? _controller;
    private HealthCheck? _health;
    private bool _processStarted;
    private bool _removing;
    private Task? _loop;

    /// <param name="task">The task as assigned, its status being what this node last reported (or the manager's,
    /// for a task this node has no record of).</param>
    /// <param name="executor">The runtime that runs it.</param>
    /// <param name="db">Where its status is recorded before it is reported.</param>
    /// <param name="reporter">Where status updates go.</param>
    /// <param name="time">The clock of timestamps and the stop grace period.</param>
    /// <param name="logger">Where to log.</param>
    public TaskManager(SwarmTask task, IExecutor executor, TaskDb db, StatusReporter reporter, TimeProvider time, ILogger logger)
    {
        _task = task.Clone();
        _task.Status ??= new SwarmTaskStatus { State = TaskState.Assigned };
        _executor = executor;
        _db = db;
        _reporter = reporter;
        _time = time;
        _logger = logger;
    }

    /// <summary>The task's ID.</summary>
    public string TaskId => _task.Id;

    /// <summary>The task with the status this node reported last.</summary>
    public SwarmTask Task
    {
        get
        {
            lock (_lock)
            {
                return _task.Clone();
            }
        }
    }

    private TaskState State
    {
        get
        {
            lock (_lock)
            {
                return _task.Status.State;
            }
        }
    }

    private bool StopWanted
    {
        get
        {
            lock (_lock)
            {
                return _removing || _task.DesiredState >= TaskState.Shutdown;
            }
        }
    }

    private bool RunWanted
    {
        get
        {
            lock (_lock)
            {
                return _task.DesiredState >= TaskState.Running;
            }
        }
    }

    /// <summary>Starts driving the task.</summary>
    public void Start() => _loop = System.Threading.Tasks.Task.Run(() => SuperviseLoopAsync(_stop.Token));

    /// <summary>Takes a new version of the task from the managers (desired state, spec); its status stays this node's.</summary>
    public void Update(SwarmTask assigned)
    {
        lock (_lock)
        {
            var status = _task.Status;
            _task = assigned.Clone();
            _task.Status = status;
        }

        _changes.Writer.TryWrite(true);
    }

    /// <summary>
    /// The task left the assignment set (it was deleted): stops it if it runs, then removes it from its runtime (its
    /// directory and logs go) and from the task database.
    /// </summary>
    public async Task RemoveAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            _removing = true;
        }

        _changes.Writer.TryWrite(true);
        if (_loop is not null)
        {
            await _loop.WaitAsync(cancellationToken);
        }

        // A task that had ended before this agent started has no controller yet: make one to release its files.
        var controller = _controller ?? TryCreateController();
        if (controller is not null)
        {
            await controller.RemoveAsync(cancellationToken);
        }

        _db.Delete(TaskId);
        LogRemoved(_logger, TaskId);
    }

    /// <summary>Stops driving the task and leaves it as it is (a running process keeps running): the agent is stopping.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        if (_loop is not null)
        {
            try
            {
                await _loop;
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                // Stopping: whatever the interrupted step threw no longer matters.
            }
        }

        _stop.Dispose();
    }

    private ITaskController? TryCreateController()
    {
        try
        {
            return _executor.CreateController(Task);
        }
        catch (TaskRejectedException)
        {
            return null;
        }
    }

    /// <summary>Runs the loop; an unexpected failure (a full disk, a runtime fault) is logged and the loop, which is
    /// idempotent, runs again after a pause rather than leaving the task stuck.</summary>
    private async Task SuperviseLoopAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            try
            {
                await RunAsync(cancellationToken);
                return;
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested)
            {
                LogLoopFailed(_logger, TaskId, State, e.Message);
                _controller = null;
                _processStarted = false;
                await System.Threading.Tasks.Task.Delay(RetryDelay, _time, cancellationToken);
            }
        }
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        if (IsFinal(State))
        {
            return;
        }

        try
        {
            _controller = _executor.CreateController(Task);
            _health = HealthCheckOf(_controller);
        }
        catch (TaskRejectedException e)
        {
            if (StopWanted)
            {
                Report(TaskState.Shutdown, "shutdown");
            }
            else
            {
                Report(TaskState.Rejected, "rejected", e.Message);
            }

            return;
        }

        if (State is TaskState.Starting or TaskState.Running && !await AdoptAsync(cancellationToken))
        {
            return;
        }

        while (!IsFinal(State))
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (StopWanted && (State < TaskState.Starting || (State == TaskState.Starting && !_processStarted)))
            {
                // Never started: there is nothing to stop.
                Report(TaskState.Shutdown, "shutdown");
                return;
            }

            switch (State)
            {
                case < TaskState.Accepted:
                    Report(TaskState.Accepted, "accepted");
                    break;
                case TaskState.Accepted:
                    Report(TaskState.Preparing, "preparing");
                    break;
                case TaskState.Preparing:
                    try
                    {
                        await _controller.PrepareAsync(cancellationToken);
                    }
                    catch (Exception e) when (!cancellationToken.IsCancellationRequested)
                    {
                        Report(TaskState.Rejected, "rejected", e.Message);
                        break;
                    }

                    Report(TaskState.Ready, "prepared");
                    break;
                case TaskState.Ready:
                    if (RunWanted)
                    {
                        Report(TaskState.Starting, "starting");
                    }
                    else
                    {
                        await _changes.Reader.ReadAsync(cancellationToken);
                    }

                    break;
                case TaskState.Starting:
                    if (!_processStarted)
                    {
                        try
                        {
                            await _controller.StartAsync(cancellationToken);
                        }
                        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
                        {
                            Report(TaskState.Failed, "failed", $"starting the task failed: {e.Message}");
                            break;
                        }

                        _processStarted = true;
                    }

                    if (_health is null)
                    {
                        Report(TaskState.Running, "started");
                    }
                    else
                    {
                        // Still STARTING ("starting", as Docker shows it) until a check passes.
                        await SuperviseAsync(cancellationToken);
                    }

                    break;
                case TaskState.Running:
                    await SuperviseAsync(cancellationToken);
                    break;
                default:
                    // A state this loop does not drive (e.g. ORPHANED from the managers): leave the task alone.
                    return;
            }
        }
    }

    /// <summary>
    /// The task's health check; throws <see cref="TaskRejectedException"/> when it cannot be run. A task that started
    /// already (re-adopted) is never rejected for it: it runs on without a check.
    /// </summary>
    private HealthCheck? HealthCheckOf(ITaskController controller)
    {
        try
        {
            var check = HealthCheck.From(Task.Spec?.Container?.Healthcheck);
            return check is not null && controller is not ITaskHealthProbe
                ? throw new TaskRejectedException($"the {_executor.Runtime} runtime cannot run health checks; remove the service's health check (--no-healthcheck) or run the service on nodes with the process runtime")
                : check;
        }
        catch (TaskRejectedException e) when (State >= TaskState.Starting)
        {
            LogHealthIgnored(_logger, TaskId, e.Message);
            return null;
        }
    }

    /// <summary>
    /// After a restart: finds what became of a task that was starting or running. Returns whether to carry on with
    /// the usual loop (false when the task reached its final state here).
    /// </summary>
    private async Task<bool> AdoptAsync(CancellationToken cancellationToken)
    {
        var found = await _controller!.InspectAsync(cancellationToken);
        switch (found.Phase)
        {
            case TaskPhase.Running:
                LogAdopted(_logger, TaskId, found.Pid);
                _processStarted = true;
                if (State == TaskState.Starting && _health is null)
                {
                    Report(TaskState.Running, "started");
                }

                return true;
            case TaskPhase.Exited:
                Finish(found.Exit!.Value);
                return false;
            case TaskPhase.NotStarted when State == TaskState.Starting:
                return true;
            case TaskPhase.NotStarted:
                Report(TaskState.Failed, "failed", "the task's process is lost: this node has no trace of it (its task directory is gone)");
                return false;
            default:
                Report(TaskState.Failed, "failed", found.Reason ?? "the task's process is lost");
                return false;
        }
    }

    /// <summary>
    /// Waits for the started task to exit, stopping it when the managers want it stopped or when it becomes unhealthy.
    /// With a health check, runs it meanwhile and moves a STARTING task to RUNNING once a check passed.
    /// </summary>
    private async Task SuperviseAsync(CancellationToken cancellationToken)
    {
        var controller = _controller!;
        using var supervision = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var checking = CancellationTokenSource.CreateLinkedTokenSource(supervision.Token);
        var exited = controller.WaitAsync(supervision.Token);
        var monitor = StartMonitor(controller);
        var monitoring = monitor?.RunAsync(checking.Token) ?? System.Threading.Tasks.Task.CompletedTask;
        var unhealthy = false;
        TaskExit exit;
        try
        {
            while (!StopWanted)
            {
                if (monitor?.Status == HealthStatus.Unhealthy)
                {
                    unhealthy = true;
                    break;
                }

                if (monitor?.Status == HealthStatus.Healthy && State == TaskState.Starting)
                {
                    Report(TaskState.Running, "started");
                }

                var changed = _changes.Reader.WaitToReadAsync(supervision.Token).AsTask();
                if (await System.Threading.Tasks.Task.WhenAny(exited, changed) == exited)
                {
                    break;
                }

                _changes.Reader.TryRead(out _);
            }

            // No more checks once the task is ending: a late result changes nothing.
            await checking.CancelAsync();
            if ((StopWanted || unhealthy) && !exited.IsCompleted)
            {
                if (unhealthy)
                {
                    LogUnhealthy(_logger, TaskId, monitor!.FailingStreak, monitor.Last?.Summary ?? string.Empty);
                }

                await StopAsync(controller, exited, cancellationToken);
            }

            exit = await exited;
        }
        catch (Exception e) when (exited.IsFaulted && !cancellationToken.IsCancellationRequested)
        {
            // The runtime lost the task: its end can no longer be known. (Other failures, such as a stop signal that
            // could not be sent, go to the retrying loop, which finds the task again.)
            Report(TaskState.Failed, "failed", e.Message);
            return;
        }
        finally
        {
            await supervision.CancelAsync();
            await monitoring.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        if (unhealthy && !StopWanted)
        {
            var error = exit.ExitCode != 0
                ? string.Create(CultureInfo.InvariantCulture, $"task: non-zero exit ({exit.ExitCode}): {UnhealthyError}")
                : UnhealthyError;
            Report(TaskState.Failed, $"unhealthy: {monitor!.Last?.Summary}", error, exit.ExitCode);
            return;
        }

        Finish(exit);
    }

    /// <summary>The health monitor of the started task (null without a health check), reporting to the loop.</summary>
    private HealthMonitor? StartMonitor(ITaskController controller)
    {
        if (_health is not { } check || controller is not ITaskHealthProbe probe)
        {
            return null;
        }

        DateTimeOffset startedAt;
        bool healthy;
        lock (_lock)
        {
            // The start period counts from the STARTING status (recorded just before the start, and kept across restarts).
            healthy = _task.Status.State == TaskState.Running;
            startedAt = _task.Status.State == TaskState.Starting && _task.Status.Timestamp is { } at ? at.ToDateTimeOffset() : _time.GetUtcNow();
        }

        return new HealthMonitor(
            check,
            ct => probe.ProbeAsync(check.Command, check.Timeout, ct),
            startedAt,
            healthy,
            _time,
            status =>
            {
                LogHealth(_logger, TaskId, status);
                _changes.Writer.TryWrite(true);
            },
            (result, streak) => LogCheckFailed(_logger, TaskId, streak, check.Retries, result.ExitCode, result.Summary));
    }

    /// <summary>Sends the stop signal, then SIGKILL when the task is still running after its grace period.</summary>
    private async Task StopAsync(ITaskController controller, Task<TaskExit> exited, CancellationToken cancellationToken)
    {
        await controller.ShutdownAsync(cancellationToken);
        var grace = StopGracePeriod();
        try
        {
            await exited.WaitAsync(grace, _time, cancellationToken);
        }
        catch (TimeoutException)
        {
            LogKilling(_logger, TaskId, grace.TotalSeconds);
            await controller.TerminateAsync(cancellationToken);
        }
    }

    private void Finish(TaskExit exit)
    {
        if (StopWanted)
        {
            Report(TaskState.Shutdown, "shutdown", exitCode: exit.ExitCode);
        }
        else if (exit.ExitCode == 0)
        {
            Report(TaskState.Complete, "finished", exitCode: 0);
        }
        else
        {
            Report(TaskState.Failed, "failed", string.Create(CultureInfo.InvariantCulture, $"task: non-zero exit ({exit.ExitCode})"), exit.ExitCode);
        }
    }

    private TimeSpan StopGracePeriod()
    {
        lock (_lock)
        {
            return _task.Spec?.Container?.StopGracePeriod is { } period ? period.ToTimeSpan() : DefaultStopGracePeriod;
        }
    }

    /// <summary>
    /// Moves the task to <paramref name="state"/> (forward only): records it in the task database, then takes it as
    /// the task's status, then queues the report. When the record cannot be written the task stays where it was.
    /// </summary>
    private void Report(TaskState state, string message, string? error = null, int? exitCode = null)
    {
        TaskStatusUpdate update;
        lock (_lock)
        {
            var previous = _task.Status;
            if (state <= previous.State)
            {
                LogNotForward(_logger, TaskId, state, previous.State);
                return;
            }

            var container = new ContainerStatus { ContainerId = TaskId, Pid = _controller?.Pid ?? 0 };
            if (exitCode is { } code)
            {
                container.ExitCode = code;
            }

            var status = new SwarmTaskStatus
            {
                Timestamp = Timestamp.FromDateTimeOffset(_time.GetUtcNow()),
                State = state,
                Message = message,
                Err = error ?? string.Empty,
                Container = container,
            };
            if (_removing)
            {
                // Deleted from the store: nobody reads its status any more, and its record is about to go.
                _task.Status = status;
                return;
            }

            var record = _task.Clone();
            record.Status = status;
            _db.Save(record);
            _task.Status = status;
            update = new TaskStatusUpdate { TaskId = TaskId, Status = status.Clone() };
        }

        _reporter.Enqueue(update);
        LogState(_logger, TaskId, state, message, error ?? string.Empty);
    }

    private static bool IsFinal(TaskState state) => state >= TaskState.Complete;

    [LoggerMessage(EventId = 6130, Level = LogLevel.Information, Message = "Task {TaskId}: {State} ({Message}) {Error}")]
    private static partial void LogState(ILogger logger, string taskId, TaskState state, string message, string error);

    [LoggerMessage(EventId = 6131, Level = LogLevel.Debug, Message = "Task {TaskId}: not moving to {State}, already at {Current}")]
    private static partial void LogNotForward(ILogger logger, string taskId, TaskState state, TaskState current);

    [LoggerMessage(EventId = 6132, Level = LogLevel.Information, Message = "Task {TaskId}: re-adopted, process {Pid} still runs")]
    private static partial void LogAdopted(ILogger logger, string taskId, int pid);

    [LoggerMessage(EventId = 6133, Level = LogLevel.Warning, Message = "Task {TaskId}: still running {Seconds} s after its stop signal; killing it")]
    private static partial void LogKilling(ILogger logger, string taskId, double seconds);

    [LoggerMessage(EventId = 6135, Level = LogLevel.Error, Message = "Task {TaskId}: driving it failed at {State} ({Reason}); trying again")]
    private static partial void LogLoopFailed(ILogger logger, string taskId, TaskState state, string reason);

    [LoggerMessage(EventId = 6140, Level = LogLevel.Information, Message = "Task {TaskId}: health {Status}")]
    private static partial void LogHealth(ILogger logger, string taskId, HealthStatus status);

    [LoggerMessage(EventId = 6141, Level = LogLevel.Information, Message = "Task {TaskId}: health check failed ({Streak} of {Retries} in a row), exit code {ExitCode}: {Output}")]
    private static partial void LogCheckFailed(ILogger logger, string taskId, int streak, int retries, int exitCode, string output);

    [LoggerMessage(EventId = 6142, Level = LogLevel.Warning, Message = "Task {TaskId}: unhealthy after {Streak} failed health checks in a row ({Output}); stopping it")]
    private static partial void LogUnhealthy(ILogger logger, string taskId, int streak, string output);

    [LoggerMessage(EventId = 6143, Level = LogLevel.Warning, Message = "Task {TaskId}: its health check is not run ({Reason})")]
    private static partial void LogHealthIgnored(ILogger logger, string taskId, string reason);

    [LoggerMessage(EventId = 6134, Level = LogLevel.Information, Message = "Task {TaskId}: removed")]
    private static partial void LogRemoved(ILogger logger, string taskId);
}
