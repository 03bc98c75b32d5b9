using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Shoal.Manager.Orchestrator.Update;
using Shoal.Store;

namespace Shoal.Manager.Orchestrator;

/// <summary>
/// The leader's orchestration loops as one unit (DESIGN §8): <see cref="ReplicatedOrchestrator"/>,
/// <see cref="GlobalOrchestrator"/>, <see cref="RestartSupervisor"/>, <see cref="UpdateSupervisor"/>,
/// <see cref="ConstraintEnforcer"/> and <see cref="TaskReaper"/>, each on its own watch of the store. A loop that throws is logged and started again after
/// a backoff (doubling from <see cref="OrchestratorOptions.RestartBackoff"/>), from a fresh snapshot; none dies
/// silently. <see cref="RunAsync"/> ends when leadership is lost (the token) or the store closes.
/// </summary>
/// <remarks>
/// The manager restarts a failed leader loop too, but it runs this whole unit as one <c>LeaderLoop</c> and sees it fail
/// only once all six loops have ended (<see cref="RunAsync"/> waits for every one): without the supervision here, a
/// loop that threw would stay stopped while the others run on. Supervising each loop on its own also means one that
/// keeps failing never makes the others stop and rebuild their indexes.
/// </remarks>
public sealed class Orchestrators
{
    private readonly OrchestratorOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private int _restarted;

    public Orchestrators(MemoryStore store, OrchestratorOptions? options = null, TimeProvider? time = null, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        _options = options ?? new OrchestratorOptions();
        _options.Validate();
        _time = time ?? TimeProvider.System;
        var factory = loggerFactory ?? NullLoggerFactory.Instance;
        _logger = factory.CreateLogger<Orchestrators>();
        Replicated = new ReplicatedOrchestrator(store, _options, _time, factory.CreateLogger<ReplicatedOrchestrator>());
        Global = new GlobalOrchestrator(store, _options, _time, factory.CreateLogger<GlobalOrchestrator>());
        Restarts = new RestartSupervisor(store, _options, _time, factory.CreateLogger<RestartSupervisor>());
        Updates = new UpdateSupervisor(store, _options, _time, factory.CreateLogger<UpdateSupervisor>());
        Constraints = new ConstraintEnforcer(store, _options, _time, factory.CreateLogger<ConstraintEnforcer>());
        Reaper = new TaskReaper(store, _options, _time, factory.CreateLogger<TaskReaper>());
    }

    public ReplicatedOrchestrator Replicated { get; }

    public GlobalOrchestrator Global { get; }

    public RestartSupervisor Restarts { get; }

    public UpdateSupervisor Updates { get; }

    public ConstraintEnforcer Constraints { get; }

    public TaskReaper Reaper { get; }

    /// <summary>Loops started again after they threw (tests check it).</summary>
    internal int Restarted => Volatile.Read(ref _restarted);

    /// <summary>Runs every loop until <paramref name="cancellationToken"/> is cancelled or the store closes.</summary>
    public Task RunAsync(CancellationToken cancellationToken) => Task.WhenAll(
        SuperviseAsync(nameof(ReplicatedOrchestrator), Replicated.RunAsync, cancellationToken),
        SuperviseAsync(nameof(GlobalOrchestrator), Global.RunAsync, cancellationToken),
        SuperviseAsync(nameof(RestartSupervisor), Restarts.RunAsync, cancellationToken),
        SuperviseAsync(nameof(UpdateSupervisor), Updates.RunAsync, cancellationToken),
        SuperviseAsync(nameof(ConstraintEnforcer), Constraints.RunAsync, cancellationToken),
        SuperviseAsync(nameof(TaskReaper), Reaper.RunAsync, cancellationToken));

    /// <summary>
    /// Runs one loop, starting it again whenever it throws: after <see cref="OrchestratorOptions.RestartBackoff"/>,
    /// doubling up to <see cref="OrchestratorOptions.MaxRestartBackoff"/>. It returns when the loop returns (the store
    /// closed) or <paramref name="cancellationToken"/> is cancelled. The loop starts on the thread pool, so the loops
    /// take their snapshots and build their indexes side by side rather than one after another on the caller's thread.
    /// </summary>
    internal async Task SuperviseAsync(string name, Func<CancellationToken, Task> run, CancellationToken cancellationToken)
    {
        var backoff = _options.RestartBackoff;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await Task.Run(() => run(cancellationToken), cancellationToken);
                return;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                OrchestratorLog.LoopFailed(_logger, ex, name, backoff.TotalMilliseconds);
            }

            try
            {
                await Task.Delay(backoff, _time, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            Interlocked.Increment(ref _restarted);
            backoff = backoff * 2 < _options.MaxRestartBackoff ? backoff * 2 : _options.MaxRestartBackoff;
        }
    }
}
