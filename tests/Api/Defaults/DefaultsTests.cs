using Shoal.Api.Defaults;

namespace Shoal.Api.Tests.Defaults;

public class DefaultsTests
{
    [Fact]
    public void NewClusterSpec_IsNamedDefault_WithEveryDocumentedDefault()
    {
        var spec = ClusterDefaults.NewClusterSpec();

        Assert.Equal("default", spec.Annotations.Name);
        Assert.Equal(5, spec.Orchestration.TaskHistoryRetentionLimit);
        Assert.True(spec.Orchestration.HasTaskHistoryRetentionLimit);
        Assert.Equal(10_000UL, spec.Raft.SnapshotInterval);
        Assert.Equal(0UL, spec.Raft.KeepOldSnapshots);
        Assert.True(spec.Raft.HasKeepOldSnapshots);
        Assert.Equal(500UL, spec.Raft.LogEntriesForSlowFollowers);
        Assert.Equal(1U, spec.Raft.HeartbeatTick);
        Assert.Equal(10U, spec.Raft.ElectionTick);
        Assert.Equal(TimeSpan.FromSeconds(5), spec.Dispatcher.HeartbeatPeriod.ToTimeSpan());
        Assert.Equal(TimeSpan.FromDays(90), spec.CaConfig.NodeCertExpiry.ToTimeSpan());
    }

    [Fact]
    public void NewClusterSpec_ReturnsAFreshMessageEachTime()
    {
        var first = ClusterDefaults.NewClusterSpec();
        first.Raft.ElectionTick = 99;
        Assert.Equal(10U, ClusterDefaults.NewClusterSpec().Raft.ElectionTick);
    }

    [Fact]
    public void UpdateDefaults_AreDockers()
    {
        var update = ServiceDefaults.NewUpdateConfig();

        Assert.Equal(1, update.Parallelism);
        Assert.Equal(TimeSpan.Zero, update.Delay.ToTimeSpan());
        Assert.Equal(FailureAction.Pause, update.FailureAction);
        Assert.Equal(TimeSpan.FromSeconds(5), update.Monitor.ToTimeSpan());
        Assert.Equal(UpdateOrder.StopFirst, update.Order);
        Assert.Equal(0f, update.MaxFailureRatio);
    }

    [Fact]
    public void RestartDefaults_AreAnyAfterFiveSeconds_WithUnlimitedAttempts()
    {
        var restart = ServiceDefaults.NewRestartPolicy();

        Assert.Equal(RestartCondition.Any, restart.Condition);
        Assert.Equal(TimeSpan.FromSeconds(5), restart.Delay.ToTimeSpan());
        Assert.False(restart.HasMaxAttempts);
        Assert.Equal(TimeSpan.Zero, restart.Window.ToTimeSpan());
        Assert.Equal(TimeSpan.FromSeconds(10), ServiceDefaults.StopGracePeriod);
    }
}
