using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Shoal.Api;
using Shoal.Ca.Certificates;

namespace Shoal.Ca.Client;

/// <summary>
/// Keeps the node's certificate fresh: renews it at a random point between 50 % and 80 % of its validity (so that
/// nodes that joined together do not renew together), at once when asked (a role change), and retries failures with
/// backoff (5 s doubling up to 1 h). Each renewal makes a new key, swaps the credentials into
/// <see cref="NodeSecurity"/> (new connections use them; open ones go on) and writes them to disk.
/// </summary>
public sealed partial class CertificateRenewer
{
    /// <summary>Earliest point of the validity at which a renewal is scheduled.</summary>
    public const double EarliestFraction = 0.5;

    /// <summary>Latest point of the validity at which a renewal is scheduled.</summary>
    public const double LatestFraction = 0.8;

    private static readonly TimeSpan FirstRetry = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan LastRetry = TimeSpan.FromHours(1);
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan MaxWait = TimeSpan.FromDays(1);
    private static readonly TimeSpan MinimumInterval = TimeSpan.FromMinutes(1);

    private readonly NodeSecurity _security;
    private readonly CertificateDirectory? _directory;
    private readonly Func<CallInvoker> _manager;
    private readonly TimeProvider _time;
    private readonly Random _random;
    private readonly ILogger _logger;
    private TaskCompletionSource _wake = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// Creates the renewer. <paramref name="manager"/> gives a call invoker to a manager (mutual TLS with the node's
    /// certificate) at each attempt, so the caller may move between managers.
    /// </summary>
    public CertificateRenewer(NodeSecurity security, CertificateDirectory? directory, Func<CallInvoker> manager, Random? random = null, ILogger<CertificateRenewer>? logger = null)
    {
        _security = security;
        _directory = directory;
        _manager = manager;
        _time = security.TimeProvider;
        _random = random ?? Random.Shared;
        _logger = logger ?? NullLogger<CertificateRenewer>.Instance;
    }

    /// <summary>When the next renewal of <paramref name="credentials"/> is due, for a draw of <paramref name="unit"/> in [0, 1).</summary>
    public static DateTimeOffset RenewalTime(NodeCredentials credentials, double unit)
    {
        var lifetime = credentials.NotAfter - credentials.NotBefore;
        var fraction = EarliestFraction + ((LatestFraction - EarliestFraction) * unit);
        return credentials.NotBefore + (lifetime * fraction);
    }

    /// <summary>Asks for a renewal now (after a role change): <see cref="RunAsync"/> wakes and renews.</summary>
    public void RenewSoon()
    {
        Volatile.Read(ref _wake).TrySetResult();
    }

    /// <summary>Renews when due or asked, until cancelled.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var failures = 0;
        var renewAt = RenewalTime(_security.Current, _random.NextDouble());
        LogScheduled(_logger, renewAt);
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var wait = renewAt - _time.GetUtcNow();
            if (wait > TimeSpan.Zero)
            {
                // Timers take at most ~49 days; a 90-day certificate renews later than that, so wait in steps.
                var woken = await WaitAsync(wait < MaxWait ? wait : MaxWait, cancellationToken).ConfigureAwait(false);
                if (!woken && _time.GetUtcNow() < renewAt)
                {
                    continue;
                }
            }

            try
            {
                var renewed = await RenewAsync(cancellationToken).ConfigureAwait(false);
                failures = 0;
                renewAt = RenewalTime(renewed, _random.NextDouble());
                var now = _time.GetUtcNow();
                if (renewAt < now + MinimumInterval)
                {
                    // Our clock is ahead of the CA's (or the validity is tiny): never renew in a tight loop.
                    LogClockSkew(_logger, renewed.NotBefore, renewed.NotAfter, now);
                    renewAt = now + MinimumInterval;
                }

                LogScheduled(_logger, renewAt);
            }
            catch (RpcException) when (cancellationToken.IsCancellationRequested)
            {
                cancellationToken.ThrowIfCancellationRequested();
            }
            catch (Exception e) when (e is RpcException or RenewalException)
            {
                failures++;
                var retry = Backoff(failures);
                renewAt = _time.GetUtcNow() + retry;
                LogFailed(_logger, failures, retry, e.Message);
            }
        }
    }

    /// <summary>Waits for <paramref name="wait"/> or a <see cref="RenewSoon"/>; true when woken by the latter.</summary>
    private async Task<bool> WaitAsync(TimeSpan wait, CancellationToken cancellationToken)
    {
        var signal = Volatile.Read(ref _wake);
        using var waiting = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var delay = Task.Delay(wait, _time, waiting.Token);
        await Task.WhenAny(delay, signal.Task).ConfigureAwait(false);
        await waiting.CancelAsync().ConfigureAwait(false);
        try
        {
            await delay.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            cancellationToken.ThrowIfCancellationRequested();
        }

        if (!signal.Task.IsCompleted)
        {
            return false;
        }

        Interlocked.CompareExchange(ref _wake, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), signal);
        return true;
    }

    /// <summary>Renews once, now: a new key, a CSR signed by it, the certificate the CA issues for it.</summary>
    /// <exception cref="RpcException">The manager refused or could not be reached.</exception>
    /// <exception cref="RenewalException">The CA returned something unusable or nothing in time.</exception>
    public async Task<NodeCredentials> RenewAsync(CancellationToken cancellationToken = default)
    {
        using var key = NodeKeys.Create();
        var csr = NodeKeys.CreateSigningRequest(key);
        var client = new NodeCA.NodeCAClient(_manager());
        await client.IssueNodeCertificateAsync(
            new IssueNodeCertificateRequest { Csr = ByteString.CopyFrom(csr) },
            deadline: Deadline(), cancellationToken: cancellationToken).ResponseAsync.ConfigureAwait(false);

        var status = await IssuanceWait.ForKeyAsync(
            () => client.NodeCertificateStatusAsync(
                new NodeCertificateStatusRequest { NodeId = _security.NodeId },
                deadline: Deadline(), cancellationToken: cancellationToken).ResponseAsync,
            key,
            TimeSpan.FromMilliseconds(50),
            CallTimeout,
            _time,
            reason => new RenewalException(reason),
            cancellationToken).ConfigureAwait(false);
        var credentials = Use(status, key);
        _security.Replace(credentials);
        _directory?.Save(credentials);
        LogRenewed(_logger, credentials.Role, credentials.NotAfter);
        return credentials;
    }

    private NodeCredentials Use(NodeCertificateStatusResponse status, ECDsa key)
    {
        using var certificate = X509Certificate2.CreateFromPem(status.Certificate.ToStringUtf8());
        var root = status.RootCaCertificate.IsEmpty
            ? X509CertificateLoader.LoadCertificate(_security.Current.RootCa.RawData)
            : X509Certificate2.CreateFromPem(status.RootCaCertificate.ToStringUtf8());
        try
        {
            return NodeCredentials.Create(certificate, key, root);
        }
        catch (CryptographicException e)
        {
            throw new RenewalException($"the renewed certificate cannot be used: {e.Message}");
        }
    }

    private static TimeSpan Backoff(int failures) =>
        TimeSpan.FromTicks(Math.Min(FirstRetry.Ticks * (1L << Math.Min(failures - 1, 20)), LastRetry.Ticks));

    private DateTime Deadline() => (_time.GetUtcNow() + CallTimeout).UtcDateTime;

    [LoggerMessage(EventId = 3040, Level = LogLevel.Debug, Message = "Next certificate renewal at {When}")]
    private static partial void LogScheduled(ILogger logger, DateTimeOffset when);

    [LoggerMessage(EventId = 3041, Level = LogLevel.Information, Message = "Renewed the node certificate as {Role}; valid until {NotAfter}")]
    private static partial void LogRenewed(ILogger logger, NodeRole role, DateTimeOffset notAfter);

    [LoggerMessage(EventId = 3043, Level = LogLevel.Warning, Message = "The renewed certificate (valid {NotBefore} to {NotAfter}) is already due for renewal at {Now}: is this node's clock ahead of the managers'?")]
    private static partial void LogClockSkew(ILogger logger, DateTimeOffset notBefore, DateTimeOffset notAfter, DateTimeOffset now);

    [LoggerMessage(EventId = 3042, Level = LogLevel.Warning, Message = "Certificate renewal failed ({Failures} in a row), retrying in {Retry}: {Reason}")]
    private static partial void LogFailed(ILogger logger, int failures, TimeSpan retry, string reason);
}

/// <summary>A renewal that produced no usable certificate.</summary>
public sealed class RenewalException : Exception
{
    /// <summary>Creates the exception.</summary>
    public RenewalException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public RenewalException()
    {
    }

    /// <summary>Creates the exception with its cause.</summary>
    public RenewalException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
