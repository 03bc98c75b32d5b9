using Shoal.Api;
using Shoal.Api.Defaults;

namespace Shoal.Manager.Orchestrator;

/// <summary>What to do with a slot (a node, for global services) whose last task is no longer running.</summary>
/// <param name="Replace">Create a replacement in the same slot (on the same node).</param>
/// <param name="Delay">How long the replacement waits, prepared (desired READY), before it starts.</param>
internal readonly record struct RestartDecision(bool Replace, TimeSpan Delay)
{
    public static readonly RestartDecision Now = new(true, TimeSpan.Zero);

    public static readonly RestartDecision Never = new(false, TimeSpan.Zero);
}

public sealed partial class RestartSupervisor
{
    /// <summary>
    /// Decides, from the stored tasks alone (so any leader decides the same, also after a failover), whether the slot
    /// whose newest task is <paramref name="newest"/> gets a replacement. A task that ended on its own — it completed,
    /// failed, was rejected or orphaned, or its node went DOWN — is subject to the restart policy: condition
    /// (any by default; a job's any means on-failure, COMPLETE being a job's success), delay (5 s by default) and
    /// max attempts, counted over the slot's tasks of the same spec version and job iteration, within the window
    /// before it ended when a window is set. A task that was moved away (drained node, constraints no longer met,
    /// shut down on request) is replaced at once, whatever the policy.
    /// </summary>
    internal static RestartDecision Decide(SwarmTask newest, IReadOnlyCollection<SwarmTask> slot, Node? node, bool isJob)
    {
        if (!EndedOnItsOwn(newest, node))
        {
            return RestartDecision.Now;
        }

        var policy = newest.Spec?.Restart;
        var condition = policy?.Condition ?? RestartCondition.Unspecified;
        if (condition == RestartCondition.Unspecified)
        {
            condition = ServiceDefaults.RestartCondition;
        }

        if (isJob && condition == RestartCondition.Any)
        {
            condition = RestartCondition.OnFailure;
        }

        var state = TaskFacts.StateOf(newest);
        if (condition == RestartCondition.None || (condition == RestartCondition.OnFailure && state == TaskState.Complete))
        {
            return RestartDecision.Never;
        }

        if (policy is { HasMaxAttempts: true, MaxAttempts: > 0 } && RestartsSoFar(newest, slot, WindowOf(policy)) >= policy.MaxAttempts)
        {
            return RestartDecision.Never;
        }

        return new RestartDecision(true, DelayOf(newest.Spec));
    }

    /// <summary>The restart delay of a task spec (5 s when unset).</summary>
    internal static TimeSpan DelayOf(TaskSpec? spec)
    {
        var delay = spec?.Restart?.Delay?.ToTimeSpan() ?? ServiceDefaults.RestartDelay;
        return delay < TimeSpan.Zero ? TimeSpan.Zero : delay;
    }

    private static TimeSpan WindowOf(RestartPolicy policy) => policy.Window?.ToTimeSpan() ?? ServiceDefaults.RestartWindow;

    /// <summary>The task stopped by itself or lost its node, rather than being stopped or moved by a manager.</summary>
    private static bool EndedOnItsOwn(SwarmTask task, Node? node) => TaskFacts.StateOf(task) switch
    {
        TaskState.Complete or TaskState.Failed or TaskState.Rejected or TaskState.Orphaned => true,
        TaskState.Shutdown => false,
        _ => task.NodeId.Length > 0 && TaskFacts.IsDown(node),
    };

    /// <summary>Replacements the slot has had for this spec version and iteration: every task but the first, and
    /// with a window only those created within the window before <paramref name="newest"/> ended.</summary>
    private static long RestartsSoFar(SwarmTask newest, IReadOnlyCollection<SwarmTask> slot, TimeSpan window)
    {
        var same = slot.Where(t => t.SpecVersion == newest.SpecVersion && t.JobIteration == newest.JobIteration).ToList();
        if (same.Count == 0)
        {
            return 0;
        }

        var first = same.Min(TaskFacts.ByAge)!;
        if (window <= TimeSpan.Zero)
        {
            return same.Count - 1;
        }

        var ended = TaskFacts.StatusAt(newest);
        return same.Count(t => !ReferenceEquals(t, first) && TaskFacts.CreatedAt(t) >= ended - window);
    }
}
