using Shoal.Api;
using Shoal.Manager.Scheduler;

namespace Shoal.Manager.Orchestrator;

/// <summary>
/// Facts about a task relative to its service that the orchestrators and the control API share: whether the task
/// still matches the service's current spec (the CLI's <c>_up-to-date</c> filter; the update supervisor replaces the
/// ones that do not), and whether its node still satisfies the placement constraints.
/// </summary>
public static class TaskRules
{
    /// <summary>
    /// True when <paramref name="task"/> was made from <paramref name="service"/>'s current task template and endpoint
    /// spec, and <paramref name="node"/> (the task's node, when it has one) still satisfies the constraints. A change
    /// of replicas alone leaves tasks up to date; so does a change of placement alone while the task's node satisfies
    /// the new constraints (SwarmKit's <c>IsTaskDirty</c>: the update supervisor does not restart such a task). A task
    /// the allocator has not reached yet (no endpoint) is not compared on its endpoint.
    /// </summary>
    public static bool IsUpToDate(Service service, SwarmTask task, Node? node)
    {
        ArgumentNullException.ThrowIfNull(service);
        ArgumentNullException.ThrowIfNull(task);
        var template = service.Spec?.Task;
        if (!Equals(task.Spec, template) && (node is null || !DiffersInPlacementOnly(task.Spec, template)))
        {
            return false;
        }

        if (task.Endpoint is { } taskEndpoint && !EndpointSpecsEqual(service.Spec?.Endpoint, taskEndpoint.Spec))
        {
            return false;
        }

        return node is null || SatisfiesConstraints(template, node);
    }

    /// <summary>The two task specs are equal but for their placement.</summary>
    private static bool DiffersInPlacementOnly(TaskSpec? a, TaskSpec? b)
    {
        if (a is null || b is null)
        {
            return false;
        }

        var left = a.Clone();
        var right = b.Clone();
        left.Placement = null;
        right.Placement = null;
        return Equals(left, right);
    }

    /// <summary>True when <paramref name="node"/> satisfies every placement constraint of <paramref name="template"/>
    /// (also when a constraint does not parse: validation refuses those at create and update).</summary>
    public static bool SatisfiesConstraints(TaskSpec? template, Node node)
    {
        ArgumentNullException.ThrowIfNull(node);
        var expressions = template?.Placement?.Constraints;
        if (expressions is null || expressions.Count == 0)
        {
            return true;
        }

        if (!Constraint.TryParseAll(expressions, out var constraints, out _))
        {
            return true;
        }

        foreach (var constraint in constraints)
        {
            if (!constraint.Matches(node))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>An absent endpoint spec and an empty one are the same (the allocator copies the spec onto tasks).</summary>
    private static bool EndpointSpecsEqual(EndpointSpec? a, EndpointSpec? b) =>
        Equals(a ?? Empty, b ?? Empty);

    private static readonly EndpointSpec Empty = new();
}
