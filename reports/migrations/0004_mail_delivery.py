# The mail outbox (docs/operations.md, "Mail outbox"): anomaly notifications and survey
# invitations take the field names of the report's mail state (`MailDelivery`), keeping their
# data; one set of skip reasons, the anomaly mail's `inactive` becoming the report mail's
# `no_email` (same meaning: user inactive or without e-mail).

from django.db import migrations, models

SKIP_REASONS = [
    ('opted_out', 'Household does not want these mails'),
    ('no_email', 'User inactive or without e-mail'),
    ('no_data', 'Report without data'),
    ('rate_limited', 'A mail for this sensor was sent within 24 hours'),
]
STATUSES = [('pending', 'Pending'), ('sent', 'Sent'), ('failed', 'Failed'), ('skipped', 'Skipped')]


def _skip_reason_rename(apps, old, new):
    AnomalyNotification = apps.get_model('reports', 'AnomalyNotification')
    AnomalyNotification.objects.filter(mail_skip_reason=old).update(mail_skip_reason=new)


def inactive_to_no_email(apps, schema_editor):
    _skip_reason_rename(apps, 'inactive', 'no_email')


def no_email_to_inactive(apps, schema_editor):
    _skip_reason_rename(apps, 'no_email', 'inactive')


def skip_reason_iff_skipped(model):
    return models.CheckConstraint(
        condition=models.Q(
            models.Q(('mail_skip_reason__gt', ''), ('mail_status', 'skipped')),
            models.Q(models.Q(('mail_status', 'skipped'), _negated=True), ('mail_skip_reason', '')),
            _connector='OR',
        ),
        name=f'{model}_mail_skip_reason_iff_skipped',
    )


def sent_has_time(model):
    return models.CheckConstraint(
        condition=models.Q(
            models.Q(('mail_sent_at__isnull', False), ('mail_status', 'sent')),
            models.Q(('mail_status', 'sent'), _negated=True),
            _connector='OR',
        ),
        name=f'{model}_mail_sent_has_time',
    )


class Migration(migrations.Migration):

    dependencies = [
        ('reports', '0003_report_mails_day_cost_survey_routine'),
    ]

    operations = [
        # Constraints and indexes name the old columns: dropped first, added back at the end.
        migrations.RemoveConstraint(
            model_name='anomalynotification',
            name='anomaly_notification_skip_reason_iff_skipped',
        ),
        migrations.RemoveConstraint(
            model_name='anomalynotification',
            name='anomaly_notification_sent_has_time',
        ),
        migrations.RemoveConstraint(
            model_name='surveyinvitation',
            name='survey_invitation_sent_has_time',
        ),
        migrations.RemoveIndex(
            model_name='anomalynotification',
            name='anomaly_notif_sensor_sent',
        ),
        migrations.RemoveIndex(
            model_name='anomalynotification',
            name='anomaly_notif_status_created',
        ),
        migrations.RemoveIndex(
            model_name='surveyinvitation',
            name='survey_invitation_status',
        ),
        migrations.RenameField(
            model_name='anomalynotification', old_name='status', new_name='mail_status'
        ),
        migrations.RenameField(
            model_name='anomalynotification', old_name='skip_reason', new_name='mail_skip_reason'
        ),
        migrations.RenameField(
            model_name='anomalynotification', old_name='attempts', new_name='mail_attempts'
        ),
        migrations.RenameField(
            model_name='anomalynotification', old_name='error', new_name='mail_last_error'
        ),
        migrations.RenameField(
            model_name='anomalynotification', old_name='sent_at', new_name='mail_sent_at'
        ),
        migrations.RenameField(
            model_name='surveyinvitation', old_name='status', new_name='mail_status'
        ),
        migrations.RenameField(
            model_name='surveyinvitation', old_name='attempts', new_name='mail_attempts'
        ),
        migrations.RenameField(
            model_name='surveyinvitation', old_name='last_error', new_name='mail_last_error'
        ),
        migrations.RenameField(
            model_name='surveyinvitation', old_name='sent_at', new_name='mail_sent_at'
        ),
        migrations.AlterField(
            model_name='anomalynotification',
            name='mail_skip_reason',
            field=models.CharField(blank=True, choices=SKIP_REASONS, max_length=16),
        ),
        migrations.AlterField(
            model_name='report',
            name='mail_skip_reason',
            field=models.CharField(blank=True, choices=SKIP_REASONS, max_length=16),
        ),
        migrations.AlterField(
            model_name='surveyinvitation',
            name='mail_status',
            field=models.CharField(choices=STATUSES, default='pending', max_length=16),
        ),
        migrations.AddField(
            model_name='surveyinvitation',
            name='mail_skip_reason',
            field=models.CharField(blank=True, choices=SKIP_REASONS, default='', max_length=16),
            preserve_default=False,
        ),
        migrations.RunPython(inactive_to_no_email, no_email_to_inactive),
        migrations.AddIndex(
            model_name='anomalynotification',
            index=models.Index(
                fields=['sensor', 'mail_status', 'mail_sent_at'], name='anomaly_notif_sensor_sent'
            ),
        ),
        migrations.AddIndex(
            model_name='anomalynotification',
            index=models.Index(
                fields=['mail_status', 'created_at'], name='anomaly_notif_status_created'
            ),
        ),
        migrations.AddIndex(
            model_name='surveyinvitation',
            index=models.Index(
                fields=['mail_status', 'mail_attempts'], name='survey_invitation_status'
            ),
        ),
        migrations.AddConstraint(
            model_name='anomalynotification',
            constraint=skip_reason_iff_skipped('anomalynotification'),
        ),
        migrations.AddConstraint(
            model_name='anomalynotification',
            constraint=sent_has_time('anomalynotification'),
        ),
        migrations.AddConstraint(
            model_name='surveyinvitation',
            constraint=skip_reason_iff_skipped('surveyinvitation'),
        ),
        migrations.AddConstraint(
            model_name='surveyinvitation',
            constraint=sent_has_time('surveyinvitation'),
        ),
    ]
