using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Shoal.Api;

namespace Shoal.Ca.Client;

/// <summary>
/// Polling the CA until the certificate for a key this node made is issued: shared by the join and by renewals.
/// </summary>
internal static class IssuanceWait
{
    /// <summary>
    /// Polls with <paramref name="poll"/> (backing off from <paramref name="firstWait"/> to 2 s) until the status is
    /// issued with a certificate for <paramref name="key"/> (an older certificate of the node does not count), and
    /// returns that status. A refusal or the <paramref name="timeout"/> throws what <paramref name="fail"/> makes of
    /// the reason.
    /// </summary>
    public static async Task<NodeCertificateStatusResponse> ForKeyAsync(
        Func<Task<NodeCertificateStatusResponse>> poll,
        ECDsa key,
        TimeSpan firstWait,
        TimeSpan timeout,
        TimeProvider time,
        Func<string, Exception> fail,
        CancellationToken cancellationToken)
    {
        var giveUp = time.GetUtcNow() + timeout;
        var wait = firstWait;
        var publicKey = key.ExportSubjectPublicKeyInfo();
        while (true)
        {
            var status = await poll().ConfigureAwait(false);
            if (status.Status.State == IssuanceState.Failed)
            {
                throw fail($"the swarm's CA refused to issue the certificate: {status.Status.Err}");
            }

            if (status.Status.State == IssuanceState.Issued && Certifies(status.Certificate.ToStringUtf8(), publicKey))
            {
                return status;
            }

            if (time.GetUtcNow() > giveUp)
            {
                throw fail($"the certificate was not issued within {timeout.TotalSeconds:0} s; is the swarm's leader available?");
            }

            await Task.Delay(wait, time, cancellationToken).ConfigureAwait(false);
            wait = TimeSpan.FromTicks(Math.Min(wait.Ticks * 2, TimeSpan.FromSeconds(2).Ticks));
        }
    }

    private static bool Certifies(string certificatePem, byte[] publicKey)
    {
        using var certificate = X509Certificate2.CreateFromPem(certificatePem);
        using var certified = certificate.GetECDsaPublicKey();
        return certified is not null && certified.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(publicKey);
    }
}
