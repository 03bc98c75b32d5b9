using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Time.Testing;
using Shoal.Agent.Executors;
using Shoal.Agent.Health;
using Shoal.Api;
using Shoal.TestKit;

namespace Shoal.Agent.Tests.Health;

/// <summary>The health check's schedule and verdicts on a fake clock, with scripted check results.</summary>
public sealed class HealthMonitorTests : IDisposable
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan StartInterval = TimeSpan.FromSeconds(5);
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 6, 10, 0, 0, TimeSpan.Zero));
    private readonly Queue<int> _results = new();
    private readonly List<DateTimeOffset> _checkedAt = [];
    private readonly List<HealthStatus> _changes = [];
    private readonly CancellationTokenSource _stop = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose()
    {
        _stop.Cancel();
        _stop.Dispose();
    }

    [Fact]
    public async Task TheFirstCheck_RunsOneIntervalAfterTheStart_AndAPassMakesTheTaskHealthy()
    {
        var (monitor, running) = Start(Check(), 0);

        await NextCheckAsync(monitor, Interval - TimeSpan.FromSeconds(1), expectChecks: 0);
        await NextCheckAsync(monitor, TimeSpan.FromSeconds(1), expectChecks: 1);

        Assert.Equal(HealthStatus.Healthy, monitor.Status);
        Assert.Equal([HealthStatus.Healthy], _changes);
        Assert.Equal([Started + Interval], _checkedAt);
        Assert.False(running.IsCompleted, "a healthy task is checked on");
    }

    [Fact]
    public async Task RetriesFailuresInARow_MakeTheTaskUnhealthy_APassInBetweenResetsTheStreak_AndChecksThenStop()
    {
        var (monitor, running) = Start(Check(retries: 3), 0, 1, 1, 0, 1, 1, 1, 0);

        for (var i = 1; i <= 3; i++)
        {
            await NextCheckAsync(monitor, Interval, expectChecks: i);
        }

        Assert.Equal((HealthStatus.Healthy, 2), (monitor.Status, monitor.FailingStreak));
        await NextCheckAsync(monitor, Interval, expectChecks: 4);
        Assert.Equal(0, monitor.FailingStreak);
        await NextCheckAsync(monitor, Interval, expectChecks: 5);
        await NextCheckAsync(monitor, Interval, expectChecks: 6);
        Assert.Equal((HealthStatus.Healthy, 2), (monitor.Status, monitor.FailingStreak));

        await NextCheckAsync(monitor, Interval, expectChecks: 7);
        await running.WaitAsync(TimeSpan.FromSeconds(10), Ct);

        Assert.Equal(HealthStatus.Unhealthy, monitor.Status);
        Assert.Equal([HealthStatus.Healthy, HealthStatus.Unhealthy], _changes);
        Assert.Equal(1, monitor.Last!.Value.ExitCode);
        Assert.Single(_results);
    }

    [Fact]
    public async Task FailuresWithinTheStartPeriod_DoNotCount_AndChecksComeEveryStartIntervalUntilOnePasses()
    {
        var check = Check(retries: 1, startPeriod: TimeSpan.FromSeconds(12));
        var (monitor, running) = Start(check, 1, 1, 0, 1);

        await NextCheckAsync(monitor, StartInterval, expectChecks: 1);
        await NextCheckAsync(monitor, StartInterval, expectChecks: 2);
        Assert.Equal((HealthStatus.Starting, 0), (monitor.Status, monitor.FailingStreak));
        await NextCheckAsync(monitor, StartInterval, expectChecks: 3);
        Assert.Equal(HealthStatus.Healthy, monitor.Status);

        // Healthy now: back to the plain interval.
        await NextCheckAsync(monitor, StartInterval, expectChecks: 3);
        await NextCheckAsync(monitor, Interval - StartInterval, expectChecks: 4);
        await running.WaitAsync(TimeSpan.FromSeconds(10), Ct);

        Assert.Equal([Started + (StartInterval * 1), Started + (StartInterval * 2), Started + (StartInterval * 3), Started + (StartInterval * 3) + Interval], _checkedAt);
        Assert.Equal([HealthStatus.Healthy, HealthStatus.Unhealthy], _changes);
    }

    [Fact]
    public async Task AfterTheStartPeriod_FailuresCount_EvenIfNoCheckHasPassed()
    {
        var check = Check(retries: 2, startPeriod: TimeSpan.FromSeconds(7));
        var (monitor, running) = Start(check, 1, 1, 1);

        await NextCheckAsync(monitor, StartInterval, expectChecks: 1);
        Assert.Equal(0, monitor.FailingStreak);
        // 10 s after the start: past the start period, so the plain interval applies and failures count.
        await NextCheckAsync(monitor, StartInterval, expectChecks: 2);
        Assert.Equal(1, monitor.FailingStreak);
        await NextCheckAsync(monitor, Interval, expectChecks: 3);
        await running.WaitAsync(TimeSpan.FromSeconds(10), Ct);

        Assert.Equal(HealthStatus.Unhealthy, monitor.Status);
        Assert.Equal([HealthStatus.Unhealthy], _changes);
    }

    [Fact]
    public async Task ATaskThatWasHealthyBeforeARestart_CountsFailuresAtOnce()
    {
        var check = Check(retries: 1, startPeriod: TimeSpan.FromHours(1));
        var monitor = new HealthMonitor(check, ProbeAsync, Started, healthy: true, _time, _changes.Add);
        _results.Enqueue(1);
        var running = monitor.RunAsync(_stop.Token);

        await NextCheckAsync(monitor, Interval, expectChecks: 1);
        await running.WaitAsync(TimeSpan.FromSeconds(10), Ct);

        Assert.Equal([HealthStatus.Unhealthy], _changes);
    }

    [Fact]
    public async Task ACheckThatThrows_CountsAsAFailure_WithTheReason()
    {
        var monitor = new HealthMonitor(Check(retries: 1), _ => throw new InvalidOperationException("boom"), Started, healthy: false, _time, _changes.Add);
        var running = monitor.RunAsync(_stop.Token);

        await Eventually.TrueAsync(() => monitor.Waits == 1, "the monitor armed its timer", cancellationToken: Ct);
        _time.Advance(Interval);
        await running.WaitAsync(TimeSpan.FromSeconds(10), Ct);

        Assert.Equal(new HealthProbeResult(-1, "the health check could not run: boom"), monitor.Last);
        Assert.Equal(HealthStatus.Unhealthy, monitor.Status);
    }

    [Fact]
    public void TheCheckIsReadFromTheSpec_WithDockersDefaults_AndUnrunnableTestsAreRefused()
    {
        Assert.Null(HealthCheck.From(null));
        Assert.Null(HealthCheck.From(new HealthConfig()));
        Assert.Null(HealthCheck.From(Config("NONE")));

        var shell = HealthCheck.From(Config("CMD-SHELL", "curl -f http://localhost/ || exit 1"))!;
        Assert.Equal(["/bin/sh", "-c", "curl -f http://localhost/ || exit 1"], shell.Command);
        Assert.Equal((TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(30), 3, TimeSpan.Zero, TimeSpan.FromSeconds(5)), (shell.Interval, shell.Timeout, shell.Retries, shell.StartPeriod, shell.StartInterval));

        var exec = Config("CMD", "pg_isready", "-q");
        exec.Interval = Duration.FromTimeSpan(TimeSpan.FromMilliseconds(200));
        exec.Timeout = Duration.FromTimeSpan(TimeSpan.FromSeconds(2));
        exec.Retries = 5;
        exec.StartPeriod = Duration.FromTimeSpan(TimeSpan.FromSeconds(10));
        exec.StartInterval = Duration.FromTimeSpan(TimeSpan.FromSeconds(1));
        var parsed = HealthCheck.From(exec)!;
        Assert.Equal(["pg_isready", "-q"], parsed.Command);
        Assert.Equal(new HealthCheck(parsed.Command, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(2), 5, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(1)), parsed);

        Assert.StartsWith("health check CMD has no command", Assert.Throws<TaskRejectedException>(() => HealthCheck.From(Config("CMD"))).Message, StringComparison.Ordinal);
        Assert.StartsWith("health check test \"HTTP\" is not CMD, CMD-SHELL or NONE", Assert.Throws<TaskRejectedException>(() => HealthCheck.From(Config("HTTP", "/"))).Message, StringComparison.Ordinal);

        Assert.Equal(["200ms", "1s", "30s", "1.5s", "1m30s", "2h0m0s"], new[] { 0.2, 1, 30, 1.5, 90, 7200 }.Select(s => HealthCheck.GoDuration(TimeSpan.FromSeconds(s))));
        Assert.Equal("ready", new HealthProbeResult(1, "starting\nready\n\n").Summary);
        Assert.Equal("health check exited with 3", new HealthProbeResult(3, " \n").Summary);
    }

    private static DateTimeOffset Started => new(2026, 12, 6, 10, 0, 0, TimeSpan.Zero);

    private static HealthCheck Check(int retries = 3, TimeSpan? startPeriod = null) =>
        new(["true"], Interval, TimeSpan.FromSeconds(1), retries, startPeriod ?? TimeSpan.Zero, StartInterval);

    private static HealthConfig Config(params string[] test)
    {
        var config = new HealthConfig();
        config.Test.Add(test);
        return config;
    }

    private (HealthMonitor Monitor, Task Running) Start(HealthCheck check, params int[] results)
    {
        foreach (var result in results)
        {
            _results.Enqueue(result);
        }

        var monitor = new HealthMonitor(check, ProbeAsync, Started, healthy: false, _time, _changes.Add);
        return (monitor, monitor.RunAsync(_stop.Token));
    }

    private Task<HealthProbeResult> ProbeAsync(CancellationToken cancellationToken)
    {
        lock (_checkedAt)
        {
            _checkedAt.Add(_time.GetUtcNow());
            var code = _results.Dequeue();
            return System.Threading.Tasks.Task.FromResult(new HealthProbeResult(code, code == 0 ? "ok" : "not ready"));
        }
    }

    private int Checks
    {
        get
        {
            lock (_checkedAt)
            {
                return _checkedAt.Count;
            }
        }
    }

    /// <summary>
    /// Waits until the monitor is waiting for its next check (each check follows one armed timer), moves the clock by
    /// <paramref name="by"/>, then, when that should run a check, waits until <paramref name="expectChecks"/> checks
    /// ran and their result is recorded (the monitor waits again, or stopped on an unhealthy verdict).
    /// </summary>
    private async Task NextCheckAsync(HealthMonitor monitor, TimeSpan by, int expectChecks)
    {
        await Eventually.TrueAsync(() => monitor.Waits == Checks + 1, $"the monitor waits for check {Checks + 1}", cancellationToken: Ct);
        var before = Checks;
        _time.Advance(by);
        if (expectChecks == before)
        {
            return;
        }

        await Eventually.TrueAsync(
            () => Checks == expectChecks && (monitor.Waits == Checks + 1 || monitor.Status == HealthStatus.Unhealthy),
            $"{expectChecks} checks ran (ran: {Checks})",
            cancellationToken: Ct);
    }
}
