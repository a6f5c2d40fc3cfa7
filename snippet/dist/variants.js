(a,_,n)=>{var r=a.j={};a.D.variant=(a,_)=>{a&&null!=_&&(r["exp:"+a]=""+_,n("variant",a,{variant:""+_}))},a.D.identify=a=>{/^[\w.:-]{1,64}$/.test(a)&&(r.uid=a)}}
