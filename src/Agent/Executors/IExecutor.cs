using Shoal.Agent.Health;
using Shoal.Api;

namespace Shoal.Agent.Executors;

/// <summary>
/// A task runtime (DESIGN §9): it says what the node offers and makes one <see cref="ITaskController"/> per task.
/// The worker needs nothing else from it, so runtimes (process, runc, docker) plug in behind this contract.
/// </summary>
public interface IExecutor
{
    /// <summary>The runtime's name as operators see it in the node description (e.g. <c>process</c>).</summary>
    string Runtime { get; }

    /// <summary>Adds what this runtime offers to the node's description (engine labels, plugins).</summary>
    void Describe(NodeDescription description);

    /// <summary>
    /// Makes the controller of <paramref name="task"/>. Throws <see cref="TaskRejectedException"/> when this runtime
    /// cannot run the task at all (unsupported runtime, no command…): the task is then REJECTED with that message.
    /// Creating a controller has no side effect; a controller for a task that already ran here finds its state again
    /// (<see cref="ITaskController.InspectAsync"/>).
    /// </summary>
    ITaskController CreateController(SwarmTask task);
}

/// <summary>
/// Drives one task in a runtime, SwarmKit's controller lifecycle: Prepare → Start → Wait → Shutdown/Terminate → Remove.
/// Every method is idempotent and cancellable; cancelling a call leaves the task as it is (a running task keeps
/// running), which is what happens when the agent stops.
/// </summary>
public interface ITaskController
{
    /// <summary>What the runtime knows of the task now: its process ID once started (0 before).</summary>
    int Pid { get; }

    /// <summary>Gets everything ready to start (directories, checks). Any exception rejects the task with its message.</summary>
    Task PrepareAsync(CancellationToken cancellationToken);

    /// <summary>Starts the task and returns once it runs. Any exception fails the task with its message.</summary>
    Task StartAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Completes when the started task has exited, with how it ended. Throws when the runtime lost the task (its
    /// exit status can no longer be known); the message says why.
    /// </summary>
    Task<TaskExit> WaitAsync(CancellationToken cancellationToken);

    /// <summary>Asks the task to stop (its stop signal). Does nothing when it is not running.</summary>
    Task ShutdownAsync(CancellationToken cancellationToken);

    /// <summary>Kills the task (SIGKILL). Does nothing when it is not running.</summary>
    Task TerminateAsync(CancellationToken cancellationToken);

    /// <summary>Releases everything the task holds: kills what is left of it and deletes its files and logs.</summary>
    Task RemoveAsync(CancellationToken cancellationToken);

    /// <summary>
    /// What became of the task while nobody watched it (the agent restarted): not started, still running (then it is
    /// re-adopted: <see cref="WaitAsync"/> and the stop methods work on it), exited (and how), or lost.
    /// </summary>
    Task<TaskObservation> InspectAsync(CancellationToken cancellationToken);
}

/// <summary>
/// A controller that can run a task's health check in the task's environment (its variables, working directory and
/// user), as <c>docker exec</c> runs one in a container. A runtime whose controllers lack it cannot run tasks with a
/// health check: they are rejected.
/// </summary>
public interface ITaskHealthProbe
{
    /// <summary>
    /// Runs <paramref name="command"/> once and returns how it ended. A run longer than <paramref name="timeout"/> is
    /// killed (with everything it started) and fails with exit code -1, as does a command that cannot be started;
    /// cancelling kills it too. Never throws for the check's own failures.
    /// </summary>
    Task<HealthProbeResult> ProbeAsync(IReadOnlyList<string> command, TimeSpan timeout, CancellationToken cancellationToken);
}

/// <summary>How a task's process ended.</summary>
/// <param name="ExitCode">Its exit code; 128 + the signal number when a signal ended it.</param>
public readonly record struct TaskExit(int ExitCode);

/// <summary>Where a task stands in its runtime, as found by <see cref="ITaskController.InspectAsync"/>.</summary>
public enum TaskPhase
{
    /// <summary>The runtime never started it.</summary>
    NotStarted,

    /// <summary>It runs (the same process as before, not a reused process ID).</summary>
    Running,

    /// <summary>It ended; the exit code is known.</summary>
    Exited,

    /// <summary>It was started but neither runs nor left an exit status.</summary>
    Lost,
}

/// <summary>What <see cref="ITaskController.InspectAsync"/> found.</summary>
/// <param name="Phase">Where the task stands.</param>
/// <param name="Pid">Its process ID when running or exited (0 when unknown).</param>
/// <param name="Exit">How it ended, when <see cref="TaskPhase.Exited"/>.</param>
/// <param name="Reason">Why it is <see cref="TaskPhase.Lost"/>.</param>
public readonly record struct TaskObservation(TaskPhase Phase, int Pid = 0, TaskExit? Exit = null, string? Reason = null);

/// <summary>The runtime cannot run this task; the message is the task's error as operators read it.</summary>
public sealed class TaskRejectedException(string message) : Exception(message);
