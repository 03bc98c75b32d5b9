using Shoal.Api;
using static Shoal.Manager.Tests.Orchestrator.OrchestratorHarness;

namespace Shoal.Manager.Tests.Orchestrator;

/// <summary>The constraint enforcer: a node that stops matching loses the tasks it no longer suits.</summary>
public sealed class ConstraintEnforcerTests
{
    [Fact]
    public async Task LabelChange_ShutsDownTasksThatNoLongerFit_AndTheyAreReplaced()
    {
        var node = Node("a", ("zone", "x"));
        var fits = Replicated("db", 1, Constraints("node.labels.zone==x"));
        var anywhere = Replicated("web", 1);
        await using var harness = await StartAsync(node, fits, anywhere);
        await harness.WaitActiveAsync(fits.Id, 1);
        await harness.WaitActiveAsync(anywhere.Id, 1);
        await harness.RunAllAsync(fits.Id, node.Id);
        await harness.RunAllAsync(anywhere.Id, node.Id);
        var constrained = harness.Active(fits.Id).Single();
        var free = harness.Active(anywhere.Id).Single();

        await harness.ChangeNodeAsync(node.Id, n => n.Spec.Annotations.Labels["zone"] = "y");

        await harness.WaitDesiredAsync(constrained.Id, TaskState.Shutdown);
        await harness.WaitAsync(() => harness.Active(fits.Id).Any(t => t.Id != constrained.Id && t.Slot == constrained.Slot && t.NodeId.Length == 0),
            "a replacement in the same slot, waiting for a node that fits");
        Assert.Equal(TaskState.Running, harness.Get(free.Id).DesiredState);
    }
}
